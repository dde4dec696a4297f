package kube

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// flaggerMetrics are Flagger's metrics, with its names, labels and values,
// so that its Grafana board and alert rules (flagger_canary_status > 1)
// work unchanged. As in Flagger, the name label of the canary series is
// the target's name (targetRef.name), and the weight series are labelled
// by workload: <target>-primary and <target>.
type flaggerMetrics struct {
	info      *prometheus.GaugeVec
	total     *prometheus.GaugeVec
	status    *prometheus.GaugeVec
	weight    *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	analysis  *prometheus.GaugeVec
	successes *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

// Values of flagger_canary_status.
const (
	flaggerStatusRunning   = 0
	flaggerStatusSucceeded = 1
	flaggerStatusFailed    = 2
)

func newFlaggerMetrics() *flaggerMetrics {
	releaseLabels := []string{"name", "namespace", "deployment_strategy", "analysis_status"}
	return &flaggerMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_info",
			Help: "Version and mesh provider of the controller (Flagger's metric, served by serin).",
		}, []string{"version", "mesh_provider"}),
		total: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_total",
			Help: "Number of Canary objects per namespace.",
		}, []string{"namespace"}),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_status",
			Help: "Last canary analysis result: 0 running (Progressing), 1 successful (any other phase), 2 failed.",
		}, []string{"name", "namespace"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_weight",
			Help: "Traffic weight of the primary (<target>-primary) and canary (<target>) workloads in percent.",
		}, []string{"workload", "namespace"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flagger_canary_duration_seconds",
			Help:    "Seconds spent performing canary analysis.",
			Buckets: prometheus.DefBuckets,
		}, []string{"name", "namespace"}),
		analysis: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_metric_analysis",
			Help: "Last value of each metric of the canary analysis.",
		}, []string{"name", "namespace", "metric"}),
		successes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagger_canary_successes_total",
			Help: "Releases promoted.",
		}, releaseLabels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagger_canary_failures_total",
			Help: "Releases rolled back.",
		}, releaseLabels),
	}
}

func (f *flaggerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.info, f.total, f.status, f.weight, f.duration, f.analysis, f.successes, f.failures}
}

func (f *flaggerMetrics) setInfo(version, meshProvider string) {
	f.info.WithLabelValues(version, meshProvider).Set(1)
}

// flaggerStatus is flagger_canary_status for a phase: Flagger counts only
// Progressing as running and every phase but Failed as successful.
func flaggerStatus(p v1beta1.CanaryPhase) float64 {
	switch p {
	case v1beta1.PhaseProgressing:
		return flaggerStatusRunning
	case v1beta1.PhaseFailed:
		return flaggerStatusFailed
	default:
		return flaggerStatusSucceeded
	}
}

// deploymentStrategy is the deployment_strategy label of a Canary.
func deploymentStrategy(c *v1beta1.Canary) string {
	switch c.Strategy() {
	case v1beta1.StrategyABTesting:
		return "ab-testing"
	case v1beta1.StrategyBlueGreen, v1beta1.StrategyBlueGreenMirroring:
		return "blue-green"
	default:
		return "canary"
	}
}

// analysesPhase reports whether a tick that starts in phase p runs the
// analysis, the ticks whose time flagger_canary_duration_seconds
// measures.
func analysesPhase(p v1beta1.CanaryPhase) bool {
	return p == v1beta1.PhaseProgressing || p == v1beta1.PhaseWaitingPromotion
}

// observeTick records a tick of c that went from phase prev to st, judged
// results and took d.
func (f *flaggerMetrics) observeTick(c *v1beta1.Canary, prev v1beta1.CanaryPhase, st v1beta1.CanaryStatus, results []judge.Result, d time.Duration) {
	target, ns := c.Spec.TargetRef.Name, c.Namespace
	f.status.WithLabelValues(target, ns).Set(flaggerStatus(st.Phase))
	f.weight.WithLabelValues(target+"-primary", ns).Set(float64(100 - st.CanaryWeight))
	f.weight.WithLabelValues(target, ns).Set(float64(st.CanaryWeight))
	if analysesPhase(prev) {
		f.duration.WithLabelValues(target, ns).Observe(d.Seconds())
	}
	for _, r := range results {
		if r.Value != nil {
			f.analysis.WithLabelValues(target, ns, r.Metric).Set(*r.Value)
		}
	}
	if prev == st.Phase {
		return
	}
	analysis := "completed"
	if c.Spec.SkipAnalysis {
		analysis = "skipped"
	}
	switch st.Phase {
	case v1beta1.PhaseSucceeded:
		f.successes.WithLabelValues(target, ns, deploymentStrategy(c), analysis).Inc()
	case v1beta1.PhaseFailed:
		f.failures.WithLabelValues(target, ns, deploymentStrategy(c), analysis).Inc()
	}
}

// forget drops the gauges of a deleted Canary whose target is target;
// the counters and the histogram keep their totals.
func (f *flaggerMetrics) forget(ns, target string) {
	if target == "" {
		return
	}
	f.status.DeleteLabelValues(target, ns)
	f.weight.DeleteLabelValues(target+"-primary", ns)
	f.weight.DeleteLabelValues(target, ns)
	f.analysis.DeletePartialMatch(prometheus.Labels{"name": target, "namespace": ns})
}

// setTotals sets flagger_canary_total to counts, dropping the namespaces
// that no longer hold a Canary.
func (f *flaggerMetrics) setTotals(counts, prev map[string]int) {
	for ns := range prev {
		if _, ok := counts[ns]; !ok {
			f.total.DeleteLabelValues(ns)
		}
	}
	for ns, n := range counts {
		f.total.WithLabelValues(ns).Set(float64(n))
	}
}

// canaryCounter recomputes flagger_canary_total from the informer cache at
// every control loop interval, as Flagger's control loop does.
type canaryCounter struct {
	cache   cache.Cache
	groups  []string
	metrics *flaggerMetrics
	every   time.Duration
}

func (c *canaryCounter) NeedLeaderElection() bool { return false }

func (c *canaryCounter) Start(ctx context.Context) error {
	if !c.cache.WaitForCacheSync(ctx) {
		return nil
	}
	prev := map[string]int{}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		counts, err := c.count(ctx)
		if err != nil {
			return err
		}
		c.metrics.setTotals(counts, prev)
		prev = counts
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (c *canaryCounter) count(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	for _, g := range c.groups {
		list, err := listCanaries(ctx, c.cache, g)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("count canaries.%s: %w", g, err)
		}
		for _, item := range list {
			counts[item.GetNamespace()]++
		}
	}
	return counts, nil
}
