package telemetry

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var t0 = time.Unix(1_800_000_000, 0)

func TestStatsWindows(t *testing.T) {
	s := NewStore(WithRetention(time.Hour))
	s.Snapshot(t0)
	r := s.Recorder(BackendKey{Namespace: "test", Deployment: "podinfo"})
	// Second 0..1: 90 fast successes, 10 failures.
	for range 90 {
		r.Record(200, 800*time.Microsecond, 10, 300)
	}
	for range 10 {
		r.Record(503, 40*time.Millisecond, 0, 0)
	}
	s.Snapshot(t0.Add(time.Second))
	// Second 1..2: 50 slow successes; the 404 is a success, as in Linkerd.
	for range 49 {
		r.Record(200, 250*time.Millisecond, 0, 0)
	}
	r.Record(404, 250*time.Millisecond, 0, 0)
	s.Snapshot(t0.Add(2 * time.Second))

	first := s.Stats("test", "podinfo", t0, t0.Add(time.Second))
	if first.Requests != 100 || first.Failures != 10 || first.SuccessRate != 90 || first.RPS != 100 {
		t.Fatalf("first second: %+v", first)
	}
	if first.P50 <= 0 || first.P50 > 1 {
		t.Errorf("first second p50 = %v, want within the 1ms bucket", first.P50)
	}
	if first.P99 <= 30 || first.P99 > 40 {
		t.Errorf("first second p99 = %v, want within (30, 40]", first.P99)
	}
	second := s.Stats("test", "podinfo", t0.Add(time.Second), t0.Add(2*time.Second))
	if second.Requests != 50 || second.Failures != 0 || second.SuccessRate != 100 {
		t.Fatalf("second second: %+v", second)
	}
	if second.P50 <= 200 || second.P50 > 300 {
		t.Errorf("second second p50 = %v, want within (200, 300]", second.P50)
	}
	both := s.Stats("test", "podinfo", t0, t0.Add(2*time.Second))
	if both.Requests != 150 || both.RPS != 75 {
		t.Fatalf("both: %+v", both)
	}
	if got := both.Buckets[len(both.Buckets)-1]; got != 150 {
		t.Errorf("cumulative +Inf bucket = %d, want 150", got)
	}
	// A window reaching past the latest snapshot reads the live counters.
	r.Record(500, time.Millisecond, 0, 0)
	live := s.Stats("test", "podinfo", t0.Add(2*time.Second), t0.Add(time.Hour))
	if live.Requests != 1 || live.Failures != 1 {
		t.Errorf("live window: %+v", live)
	}
}

func TestStatsEmptyAndUnknown(t *testing.T) {
	s := NewStore()
	st := s.Stats("nope", "nope", t0, t0.Add(time.Minute))
	if st.Requests != 0 || !math.IsNaN(st.SuccessRate) || !math.IsNaN(st.P99) {
		t.Fatalf("unknown backend: %+v", st)
	}
	if len(st.Bounds) != 26 || !math.IsInf(st.Bounds[25], 1) || len(st.Buckets) != 26 {
		t.Fatalf("bounds = %v, buckets = %v", st.Bounds, st.Buckets)
	}
}

func TestStatsMissedSnapshotsAndRetention(t *testing.T) {
	s := NewStore(WithRetention(10 * time.Second))
	s.Snapshot(t0)
	r := s.Recorder(BackendKey{Namespace: "ns", Deployment: "d"})
	r.Record(200, time.Millisecond, 0, 0)
	s.Snapshot(t0.Add(time.Second))
	r.Record(200, time.Millisecond, 0, 0)
	// Seconds 2..4 were missed by the snapshot loop.
	s.Snapshot(t0.Add(5 * time.Second))
	if got := s.Stats("ns", "d", t0.Add(3*time.Second), t0.Add(5*time.Second)).Requests; got != 1 {
		t.Errorf("window over missed snapshots: %d requests, want 1", got)
	}
	for i := 6; i <= 30; i++ {
		s.Snapshot(t0.Add(time.Duration(i) * time.Second))
	}
	// The window starts before the retention: it is clamped, so it no
	// longer sees the two early requests.
	if got := s.Stats("ns", "d", t0, t0.Add(30*time.Second)).Requests; got != 0 {
		t.Errorf("window before retention: %d requests, want 0", got)
	}
}

func TestQuantileMatchesPrometheus(t *testing.T) {
	bounds := []float64{1, 2, 4, math.Inf(1)}
	cases := []struct {
		q    float64
		cum  []int64
		want float64
	}{
		{0.5, []int64{10, 20, 20, 20}, 1},      // rank 10 at the top of bucket 0
		{0.75, []int64{10, 20, 20, 20}, 1.5},   // halfway through (1, 2]
		{0.99, []int64{0, 0, 10, 20}, 4},       // +Inf bucket: highest finite bound
		{0.5, []int64{0, 0, 0, 0}, math.NaN()}, // empty
		{0.25, []int64{0, 4, 4, 4}, 1.25},      // lowest non-empty bucket starts at its lower bound
	}
	for _, c := range cases {
		got := Quantile(c.q, bounds, c.cum)
		if math.IsNaN(c.want) != math.IsNaN(got) || (!math.IsNaN(c.want) && math.Abs(got-c.want) > 1e-9) {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.q, c.cum, got, c.want)
		}
	}
}

func TestCollectorLinkerdNames(t *testing.T) {
	s := NewStore()
	r := s.Recorder(BackendKey{Namespace: "test", Deployment: "podinfo-canary"})
	r.Record(200, 2*time.Millisecond, 0, 300)
	r.Record(200, 3*time.Millisecond, 0, 300)
	r.Record(502, 7*time.Millisecond, 0, 0)
	c := s.Collector()

	want := `
# HELP request_total Total count of HTTP requests.
# TYPE request_total counter
request_total{deployment="podinfo-canary",direction="inbound",namespace="test"} 3
# HELP response_total Total count of HTTP responses.
# TYPE response_total counter
response_total{classification="failure",deployment="podinfo-canary",direction="inbound",namespace="test",status_code="502"} 1
response_total{classification="success",deployment="podinfo-canary",direction="inbound",namespace="test",status_code="200"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "request_total", "response_total"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var hist bool
	for _, mf := range mfs {
		if mf.GetName() != "response_latency_ms" {
			continue
		}
		hist = true
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 3 || len(h.GetBucket()) != 25 {
			t.Errorf("histogram: count %d, %d buckets", h.GetSampleCount(), len(h.GetBucket()))
		}
		// le="5": the 2ms and 3ms requests; le="10": all three.
		for _, b := range h.GetBucket() {
			switch b.GetUpperBound() {
			case 5:
				if b.GetCumulativeCount() != 2 {
					t.Errorf("le=5: %d", b.GetCumulativeCount())
				}
			case 10:
				if b.GetCumulativeCount() != 3 {
					t.Errorf("le=10: %d", b.GetCumulativeCount())
				}
			}
		}
	}
	if !hist {
		t.Fatal("no response_latency_ms histogram")
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// Linkerd's name is kept on purpose even though promlint prefers
		// seconds to milliseconds.
		if p.Metric == "response_latency_ms" && (strings.Contains(p.Text, "base unit") || strings.Contains(p.Text, "abbreviated units")) {
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewStore().Recorder(BackendKey{Namespace: "a", Deployment: "b"})
	if n := testing.AllocsPerRun(1000, func() { r.Record(200, 3*time.Millisecond, 10, 300) }); n != 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
}

func BenchmarkRecordSerial(b *testing.B) {
	r := NewStore().Recorder(BackendKey{Namespace: "a", Deployment: "b"})
	b.ReportAllocs()
	for b.Loop() {
		r.Record(200, 3*time.Millisecond, 10, 300)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := NewStore().Recorder(BackendKey{Namespace: "a", Deployment: "b"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(200, 3*time.Millisecond, 10, 300)
		}
	})
}

func BenchmarkStatsOneMinute(b *testing.B) {
	s := NewStore()
	r := s.Recorder(BackendKey{Namespace: "a", Deployment: "b"})
	for i := range 3600 {
		r.Record(200, time.Duration(i)*time.Microsecond, 0, 0)
		s.Snapshot(t0.Add(time.Duration(i) * time.Second))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Stats("a", "b", t0.Add(3500*time.Second), t0.Add(3560*time.Second))
	}
}

func TestRPSOverTheTimeSeen(t *testing.T) {
	s := NewStore(WithRetention(time.Hour))
	s.Snapshot(t0)
	r := s.Recorder(BackendKey{Namespace: "test", Deployment: "podinfo"})
	for i := 1; i <= 10; i++ {
		for range 10 {
			r.Record(200, time.Millisecond, 0, 0)
		}
		s.Snapshot(t0.Add(time.Duration(i) * time.Second))
	}
	now := t0.Add(10 * time.Second)
	// Seen for 10s at 10 requests a second: a 1m window must not read 1.7.
	if st := s.Stats("test", "podinfo", now.Add(-time.Minute), now); st.Requests != 100 || st.RPS != 10 {
		t.Fatalf("1m window over 10s of traffic: requests %d rps %v, want 100 at 10", st.Requests, st.RPS)
	}
	if st := s.Stats("test", "podinfo", now.Add(-5*time.Second), now); st.RPS != 10 {
		t.Fatalf("5s window: rps %v, want 10", st.RPS)
	}
}
