package builtin

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/telemetry"
)

var t0 = time.Unix(1_800_000_000, 0)

func canary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
}

// store records, at t0+0..10s, 10 canary requests a second of which one
// fails (5 ms each) and 10 primary requests a second, all good (2 ms),
// then one more canary second at t0+10..11 of 10 slow (250 ms) successes.
func store(t *testing.T) *telemetry.Store {
	t.Helper()
	s := telemetry.NewStore(telemetry.WithRetention(time.Hour))
	can := s.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: "podinfo"})
	pri := s.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: "podinfo-primary"})
	s.Snapshot(t0)
	for sec := 1; sec <= 10; sec++ {
		for i := range 10 {
			status := 200
			if i == 0 {
				status = 503
			}
			can.Record(status, 5*time.Millisecond, 0, 0)
			pri.Record(200, 2*time.Millisecond, 0, 0)
		}
		s.Snapshot(t0.Add(time.Duration(sec) * time.Second))
	}
	for range 10 {
		can.Record(200, 250*time.Millisecond, 0, 0)
	}
	s.Snapshot(t0.Add(11 * time.Second))
	return s
}

func TestQuery(t *testing.T) {
	s := store(t)
	now := t0.Add(11 * time.Second)
	src := New(s, func() time.Time { return now })
	ctx := context.Background()

	tests := []struct {
		name        string
		metric      v1beta1.CanaryMetric
		since       time.Time
		wantValue   float64
		wantTol     float64
		wantSamples int64
		wantCounts  bool
	}{
		{
			name:   "success rate over 5s",
			metric: v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "5s"},
			// t0+6..11: 4 seconds of 9/10 and one of 10/10.
			since: t0, wantValue: 100 * 46.0 / 50.0, wantSamples: 50, wantCounts: true,
		},
		{
			name:   "success rate over the default 1m",
			metric: v1beta1.CanaryMetric{Name: RequestSuccessRate},
			since:  t0, wantValue: 100 * 100.0 / 110.0, wantSamples: 110, wantCounts: true,
		},
		{
			name:   "p99 over 1s is in the 250ms bucket",
			metric: v1beta1.CanaryMetric{Name: RequestDuration, Interval: "1s"},
			since:  t0, wantValue: 250, wantTol: 50, wantSamples: 10, wantCounts: true,
		},
		{
			name:      "no since, no counts",
			metric:    v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"},
			wantValue: 100 * 100.0 / 110.0, wantSamples: 110,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := src.Query(ctx, canary(), tt.metric, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if obs.Metric != tt.metric.Name || !obs.HasValue {
				t.Fatalf("observation = %+v, want a value for %s", obs, tt.metric.Name)
			}
			if math.Abs(obs.Value-tt.wantValue) > tt.wantTol+1e-9 {
				t.Errorf("Value = %v, want %v ± %v", obs.Value, tt.wantValue, tt.wantTol)
			}
			if obs.Samples != tt.wantSamples {
				t.Errorf("Samples = %d, want %d", obs.Samples, tt.wantSamples)
			}
			if obs.HasCounts != tt.wantCounts {
				t.Fatalf("HasCounts = %v, want %v", obs.HasCounts, tt.wantCounts)
			}
			if !tt.wantCounts {
				return
			}
			if obs.Canary.Requests != 110 || obs.Canary.Failures != 10 {
				t.Errorf("canary counts = %d/%d, want 110/10", obs.Canary.Requests, obs.Canary.Failures)
			}
			if obs.Primary.Requests != 100 || obs.Primary.Failures != 0 {
				t.Errorf("primary counts = %d/%d, want 100/0", obs.Primary.Requests, obs.Primary.Failures)
			}
			h := obs.Primary.Latency
			if len(h.Bounds) != 26 || len(h.Counts) != 26 || !math.IsInf(h.Bounds[25], 1) {
				t.Fatalf("primary histogram = %+v, want Linkerd's 26 buckets", h)
			}
			if h.Bounds[1] != 2 || h.Counts[1] != 100 || h.Counts[0] != 0 {
				t.Errorf("primary: %d requests <= %vms, want 100 <= 2ms", h.Counts[1], h.Bounds[1])
			}
			if c := obs.Canary.Latency.Counts; c[len(c)-1] != 110 {
				t.Errorf("canary +Inf bucket = %d, want 110", c[len(c)-1])
			}
		})
	}
}

func TestQuerySinceCountsOnlyTheSpan(t *testing.T) {
	s := store(t)
	src := New(s, func() time.Time { return t0.Add(11 * time.Second) })
	obs, err := src.Query(context.Background(), canary(), v1beta1.CanaryMetric{Name: RequestSuccessRate}, t0.Add(8*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if obs.Canary.Requests != 30 || obs.Canary.Failures != 2 || obs.Primary.Requests != 20 {
		t.Errorf("counts since t0+8s = canary %d/%d primary %d, want 30/2 and 20",
			obs.Canary.Requests, obs.Canary.Failures, obs.Primary.Requests)
	}
	// The primary's history is what it served before the analysis began.
	if b := obs.Baseline; b.Requests != 80 || b.Failures != 0 || b.Latency.Counts[len(b.Latency.Counts)-1] != 80 {
		t.Errorf("baseline = %d/%d %v, want the 80 good requests before t0+8s", b.Requests, b.Failures, b.Latency.Counts)
	}
}

// countingStats counts the reads of the primary's history: windows that
// end when the analysis began.
type countingStats struct {
	inner   Stats
	since   time.Time
	history int
}

func (c *countingStats) Stats(namespace, deployment string, from, to time.Time) telemetry.Stats {
	if to.Equal(c.since) {
		c.history++
	}
	return c.inner.Stats(namespace, deployment, from, to)
}

// TestHistoryIsReadOncePerAnalysis: the primary's history does not change
// while the analysis runs, so it is read at the first evaluation only.
func TestHistoryIsReadOncePerAnalysis(t *testing.T) {
	since := t0.Add(8 * time.Second)
	st := &countingStats{inner: store(t), since: since}
	now := t0.Add(9 * time.Second)
	src := New(st, func() time.Time { return now })
	for range 3 {
		obs, err := src.Query(context.Background(), canary(), v1beta1.CanaryMetric{Name: RequestSuccessRate}, since)
		if err != nil {
			t.Fatal(err)
		}
		if obs.Baseline.Requests != 80 {
			t.Fatalf("baseline %+v, want the 80 requests before the analysis", obs.Baseline)
		}
		now = now.Add(time.Second)
	}
	if st.history != 1 {
		t.Errorf("history read %d times in three evaluations, want once", st.history)
	}
}

// TestQueryWindowStartsWithTheAnalysis checks that the value is over the
// time since the analysis began when that is shorter than the interval: the
// requests before it were an earlier revision's.
func TestQueryWindowStartsWithTheAnalysis(t *testing.T) {
	s := store(t)
	src := New(s, func() time.Time { return t0.Add(11 * time.Second) })
	obs, err := src.Query(context.Background(), canary(), v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"}, t0.Add(8*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// t0+8..11: two seconds of 9/10 and one of 10/10.
	if want := 100 * 28.0 / 30.0; !obs.HasValue || math.Abs(obs.Value-want) > 1e-9 || obs.Samples != 30 {
		t.Errorf("observation = %+v, want %.2f%% over 30 requests", obs, want)
	}
}

func TestQueryNoTraffic(t *testing.T) {
	s := telemetry.NewStore()
	src := New(s, func() time.Time { return t0 })
	for _, name := range []string{RequestSuccessRate, RequestDuration} {
		obs, err := src.Query(context.Background(), canary(), v1beta1.CanaryMetric{Name: name}, t0.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if obs.HasValue || obs.Samples != 0 {
			t.Errorf("%s without traffic = %+v, want no data", name, obs)
		}
		if !obs.HasCounts || obs.Canary.Requests != 0 || obs.Primary.Requests != 0 {
			t.Errorf("%s counts without traffic = %+v, want zero counts", name, obs)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	src := New(telemetry.NewStore(), func() time.Time { return t0 })
	tests := []struct {
		metric  v1beta1.CanaryMetric
		wantErr string
	}{
		{v1beta1.CanaryMetric{Name: "error-rate"}, `"error-rate" is not a built-in`},
		{v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "soon"}, `interval "soon"`},
		{v1beta1.CanaryMetric{Name: RequestDuration, Interval: "-1m"}, `interval "-1m"`},
	}
	for _, tt := range tests {
		_, err := src.Query(context.Background(), canary(), tt.metric, time.Time{})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Query(%+v) error = %v, want %q", tt.metric, err, tt.wantErr)
		}
	}
}
