package kube

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// Metrics are the controller's metrics: serin's own and Flagger's.
type Metrics struct {
	flagger *flaggerMetrics

	weight     *prometheus.GaugeVec
	phase      *prometheus.GaugeVec
	duration   *prometheus.HistogramVec
	reconciles *prometheus.CounterVec
	reconcile  prometheus.Histogram
	lag        prometheus.Histogram

	mu      sync.Mutex
	phases  map[types.NamespacedName]v1beta1.CanaryPhase // the phase series each canary has
	targets map[types.NamespacedName]string              // the target each canary's Flagger series name
}

// NewMetrics creates the controller's metrics, serin's and Flagger's, and
// registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		flagger: newFlaggerMetrics(),
		phases:  map[types.NamespacedName]v1beta1.CanaryPhase{},
		targets: map[types.NamespacedName]string{},
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "serin_canary_weight",
			Help: "Traffic weight of the canary in percent.",
		}, []string{"namespace", "name"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "serin_canary_phase",
			Help: "Phase of the canary: 1 for the current phase, one series per canary.",
		}, []string{"namespace", "name", "phase"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "serin_canary_duration_seconds",
			Help:    "Seconds spent on one analysis tick of a canary.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"namespace", "name"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serin_reconcile_total",
			Help: "Canary reconciles by result (success, error, invalid).",
		}, []string{"result"}),
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "serin_reconcile_duration_seconds",
			Help:    "Seconds one Canary reconcile took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "serin_reconcile_lag_seconds",
			Help:    "Seconds between the time a canary's tick was due and the time it ran.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	for _, c := range append([]prometheus.Collector{m.weight, m.phase, m.duration, m.reconciles, m.reconcile, m.lag}, m.flagger.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observeCanary records the tick of c that took d and decided dec, c
// being the Canary as it was before the tick.
func (m *Metrics) observeCanary(c *v1beta1.Canary, dec rollout.Decision, d time.Duration) {
	ns, name, st := c.Namespace, c.Name, dec.Status
	m.weight.WithLabelValues(ns, name).Set(float64(st.CanaryWeight))
	key := types.NamespacedName{Namespace: ns, Name: name}
	m.mu.Lock()
	if old, ok := m.targets[key]; ok && old != c.Spec.TargetRef.Name {
		m.flagger.forget(ns, old)
	}
	m.targets[key] = c.Spec.TargetRef.Name
	prev, seen := m.phases[key]
	if !seen || prev != st.Phase {
		// Deleting by the known previous phase keeps this O(1); a partial
		// match would scan the series of every canary on every tick.
		if seen {
			m.phase.DeleteLabelValues(ns, name, string(prev))
		}
		m.phase.WithLabelValues(ns, name, string(st.Phase)).Set(1)
		m.phases[key] = st.Phase
	}
	m.mu.Unlock()
	m.duration.WithLabelValues(ns, name).Observe(d.Seconds())
	m.flagger.observeTick(c, c.Status.Phase, st, dec.Results, d)
}

// forget drops a deleted canary's series.
func (m *Metrics) forget(ns, name string) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	m.mu.Lock()
	delete(m.phases, key)
	target, ok := m.targets[key]
	delete(m.targets, key)
	m.mu.Unlock()
	if ok {
		m.flagger.forget(ns, target)
	}
	l := prometheus.Labels{"namespace": ns, "name": name}
	m.weight.DeletePartialMatch(l)
	m.phase.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
}

func (m *Metrics) observeReconcile(result string, d time.Duration) {
	m.reconciles.WithLabelValues(result).Inc()
	m.reconcile.Observe(d.Seconds())
}

func (m *Metrics) observeLag(d time.Duration) { m.lag.Observe(d.Seconds()) }
