package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/rollout"
)

// flaggerRelease ticks a Canary named "release" whose target is podinfo
// through phases, each tick ending in the next status; results are the
// judge's results of each tick.
type flaggerRelease struct {
	m *Metrics
	c *v1beta1.Canary
}

func newFlaggerRelease(t *testing.T) (*flaggerRelease, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "release"}}
	c.Spec.TargetRef.Name = "podinfo"
	c.Spec.Analysis = &v1beta1.CanaryAnalysis{StepWeight: 10}
	return &flaggerRelease{m: m, c: c}, reg
}

func (r *flaggerRelease) tick(phase v1beta1.CanaryPhase, weight int, results ...judge.Result) {
	st := v1beta1.CanaryStatus{Phase: phase, CanaryWeight: weight}
	r.m.observeCanary(r.c, rollout.Decision{Status: st, Results: results}, 250*time.Millisecond)
	r.c.Status = st
}

func value(v float64) *float64 { return &v }

func TestFlaggerMetricsFollowARelease(t *testing.T) {
	r, reg := newFlaggerRelease(t)
	r.m.flagger.setInfo("1.2.3", "linkerd")
	r.tick(v1beta1.PhaseInitialized, 0)
	r.tick(v1beta1.PhaseProgressing, 10)
	r.tick(v1beta1.PhaseProgressing, 20,
		judge.Result{Metric: "request-success-rate", Value: value(99.5)},
		judge.Result{Metric: "request-duration", Value: value(120)},
		judge.Result{Metric: "no-data"})
	r.tick(v1beta1.PhasePromoting, 0)
	r.tick(v1beta1.PhaseSucceeded, 0)
	r.tick(v1beta1.PhaseSucceeded, 0) // steady state: counted once

	want := `
# HELP flagger_info Version and mesh provider of the controller (Flagger's metric, served by serin).
# TYPE flagger_info gauge
flagger_info{mesh_provider="linkerd",version="1.2.3"} 1
# HELP flagger_canary_status Last canary analysis result: 0 running (Progressing), 1 successful (any other phase), 2 failed.
# TYPE flagger_canary_status gauge
flagger_canary_status{name="podinfo",namespace="test"} 1
# HELP flagger_canary_weight Traffic weight of the primary (<target>-primary) and canary (<target>) workloads in percent.
# TYPE flagger_canary_weight gauge
flagger_canary_weight{namespace="test",workload="podinfo"} 0
flagger_canary_weight{namespace="test",workload="podinfo-primary"} 100
# HELP flagger_canary_metric_analysis Last value of each metric of the canary analysis.
# TYPE flagger_canary_metric_analysis gauge
flagger_canary_metric_analysis{metric="request-duration",name="podinfo",namespace="test"} 120
flagger_canary_metric_analysis{metric="request-success-rate",name="podinfo",namespace="test"} 99.5
# HELP flagger_canary_successes_total Releases promoted.
# TYPE flagger_canary_successes_total counter
flagger_canary_successes_total{analysis_status="completed",deployment_strategy="canary",name="podinfo",namespace="test"} 1
`
	names := []string{"flagger_info", "flagger_canary_status", "flagger_canary_weight", "flagger_canary_metric_analysis",
		"flagger_canary_successes_total", "flagger_canary_failures_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The analysis ran in the two ticks that started in Progressing.
	if n := testutil.CollectAndCount(r.m.flagger.duration); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP flagger_canary_duration_seconds Seconds spent performing canary analysis.
# TYPE flagger_canary_duration_seconds histogram
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.005"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.01"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.025"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.05"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.1"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.25"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="0.5"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="1"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="2.5"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="5"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="10"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="test",le="+Inf"} 2
flagger_canary_duration_seconds_sum{name="podinfo",namespace="test"} 0.5
flagger_canary_duration_seconds_count{name="podinfo",namespace="test"} 2
`), "flagger_canary_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestFlaggerMetricsRollback(t *testing.T) {
	r, reg := newFlaggerRelease(t)
	r.c.Status.Phase = v1beta1.PhaseSucceeded
	r.tick(v1beta1.PhaseProgressing, 0)
	r.tick(v1beta1.PhaseProgressing, 10)
	if got := testutil.ToFloat64(r.m.flagger.status.WithLabelValues("podinfo", "test")); got != 0 {
		t.Errorf("status while progressing = %v, want 0", got)
	}
	r.tick(v1beta1.PhaseFailed, 0)
	r.tick(v1beta1.PhaseFailed, 0)
	want := `
# HELP flagger_canary_status Last canary analysis result: 0 running (Progressing), 1 successful (any other phase), 2 failed.
# TYPE flagger_canary_status gauge
flagger_canary_status{name="podinfo",namespace="test"} 2
# HELP flagger_canary_failures_total Releases rolled back.
# TYPE flagger_canary_failures_total counter
flagger_canary_failures_total{analysis_status="completed",deployment_strategy="canary",name="podinfo",namespace="test"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"flagger_canary_status", "flagger_canary_failures_total", "flagger_canary_successes_total"); err != nil {
		t.Error(err)
	}

	r.m.forget("test", "release")
	for name, c := range map[string]prometheus.Collector{"status": r.m.flagger.status, "weight": r.m.flagger.weight} {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("%d %s series after the canary was deleted, want 0", n, name)
		}
	}
	if got := testutil.ToFloat64(r.m.flagger.failures); got != 1 {
		t.Errorf("failures after the canary was deleted = %v, want 1 (counters keep their totals)", got)
	}
}

func TestFlaggerStatus(t *testing.T) {
	for phase, want := range map[v1beta1.CanaryPhase]float64{
		"":                            1,
		v1beta1.PhaseInitializing:     1,
		v1beta1.PhaseInitialized:      1,
		v1beta1.PhaseWaiting:          1,
		v1beta1.PhaseProgressing:      0,
		v1beta1.PhaseWaitingPromotion: 1,
		v1beta1.PhasePromoting:        1,
		v1beta1.PhaseFinalising:       1,
		v1beta1.PhaseSucceeded:        1,
		v1beta1.PhaseFailed:           2,
		v1beta1.PhaseTerminating:      1,
		v1beta1.PhaseTerminated:       1,
	} {
		if got := flaggerStatus(phase); got != want {
			t.Errorf("flaggerStatus(%q) = %v, want %v", phase, got, want)
		}
	}
}

func TestFlaggerReleaseLabels(t *testing.T) {
	for _, tc := range []struct {
		name     string
		analysis v1beta1.CanaryAnalysis
		skip     bool
		want     string
	}{
		{"canary", v1beta1.CanaryAnalysis{StepWeight: 10}, false, `analysis_status="completed",deployment_strategy="canary"`},
		{"blue/green", v1beta1.CanaryAnalysis{Iterations: 10}, false, `analysis_status="completed",deployment_strategy="blue-green"`},
		{"blue/green mirroring", v1beta1.CanaryAnalysis{Iterations: 10, Mirror: true}, false, `analysis_status="completed",deployment_strategy="blue-green"`},
		{"A/B testing", v1beta1.CanaryAnalysis{Iterations: 10, Match: []v1beta1.HTTPMatchRequest{{}}}, false, `analysis_status="completed",deployment_strategy="ab-testing"`},
		{"skipped analysis", v1beta1.CanaryAnalysis{StepWeight: 10}, true, `analysis_status="skipped",deployment_strategy="canary"`},
	} {
		r, reg := newFlaggerRelease(t)
		r.c.Spec.Analysis = &tc.analysis
		r.c.Spec.SkipAnalysis = tc.skip
		r.tick(v1beta1.PhaseProgressing, 10)
		r.tick(v1beta1.PhaseSucceeded, 0)
		want := "# HELP flagger_canary_successes_total Releases promoted.\n# TYPE flagger_canary_successes_total counter\n" +
			"flagger_canary_successes_total{" + tc.want + `,name="podinfo",namespace="test"} 1` + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flagger_canary_successes_total"); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestFlaggerTotals(t *testing.T) {
	f := newFlaggerMetrics()
	f.setTotals(map[string]int{"a": 2, "b": 1}, nil)
	f.setTotals(map[string]int{"a": 3}, map[string]int{"a": 2, "b": 1})
	if n := testutil.CollectAndCount(f.total); n != 1 {
		t.Errorf("%d total series, want 1 (namespace b has no Canary left)", n)
	}
	if got := testutil.ToFloat64(f.total.WithLabelValues("a")); got != 3 {
		t.Errorf("flagger_canary_total{namespace=a} = %v, want 3", got)
	}
}
