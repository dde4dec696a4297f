package kube

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/serinhq/serin/api/v1beta1"
)

func TestObserveCanaryKeepsOnePhaseSeries(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.observeCanary("ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseInitialized}, time.Millisecond)
	m.observeCanary("ns", "b", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing}, time.Millisecond)
	m.observeCanary("ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 10}, time.Millisecond)
	m.observeCanary("ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 20}, time.Millisecond)
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
	m.observeCanary("ns", "a", v1beta1.CanaryStatus{Phase: v1beta1.PhaseSucceeded}, time.Millisecond)
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
