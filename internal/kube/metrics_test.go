package kube

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// observe records a tick of canary ns/name (whose target is name) that
// ended in st.
func observe(m *Metrics, ns, name string, st v1beta1.CanaryStatus) {
	c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	c.Spec.TargetRef.Name = name
	m.observeCanary(c, rollout.Decision{Status: st}, time.Millisecond)
}

func TestObserveCanaryKeepsOnePhaseSeries(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	observe(m, "ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseInitialized})
	observe(m, "ns", "b", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing})
	observe(m, "ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 10})
	observe(m, "ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 20})
	if n := testutil.CollectAndCount(m.phase); n != 2 {
		t.Errorf("%d phase series, want 2 (one per canary)", n)
	}
	if got := testutil.ToFloat64(m.phase.WithLabelValues("ns", "a", string(v1beta1.PhaseProgressing))); got != 1 {
		t.Errorf("phase{a, Progressing} = %v, want 1", got)
	}
	m.forget("ns", "a")
	if n := testutil.CollectAndCount(m.phase); n != 1 {
		t.Errorf("%d phase series after forgetting a, want 1", n)
	}
	observe(m, "ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseSucceeded})
	if n := testutil.CollectAndCount(m.phase); n != 2 {
		t.Errorf("%d phase series after a came back, want 2", n)
	}
}

func TestUntilDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		due  time.Time
		want time.Duration
	}{
		{now.Add(10 * time.Second), 10 * time.Second},
		{now.Add(time.Millisecond), time.Millisecond},
		{now, time.Nanosecond},                   // due now: at once, not "no requeue"
		{now.Add(-time.Second), time.Nanosecond}, // overdue
	} {
		if got := untilDue(tc.due, now); got != tc.want {
			t.Errorf("untilDue(now%+v) = %v, want %v", tc.due.Sub(now), got, tc.want)
		}
	}
}
