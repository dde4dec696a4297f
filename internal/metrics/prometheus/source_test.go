package prometheus

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

func testCanary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
}

// The queries a Source sends, written out in full: the value queries are
// Flagger's Linkerd queries character for character.
const (
	wantSuccessRate = `sum(rate(response_total{namespace="test",deployment=~"podinfo",classification!="failure",direction="inbound"}[1m])) / sum(rate(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[1m])) * 100`
	wantDuration    = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="test",deployment=~"podinfo",direction="inbound"}[1m])) by (le))`
	wantSamples     = `sum(increase(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[1m]))`

	wantCanaryRequests  = `sum(increase(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[90s]))`
	wantCanaryFailures  = `sum(increase(response_total{namespace="test",deployment=~"podinfo",classification="failure",direction="inbound"}[90s]))`
	wantPrimaryRequests = `sum(increase(response_total{namespace="test",deployment=~"podinfo-primary",direction="inbound"}[90s]))`
	wantPrimaryFailures = `sum(increase(response_total{namespace="test",deployment=~"podinfo-primary",classification="failure",direction="inbound"}[90s]))`
	wantCanaryHist      = `sum(increase(response_latency_ms_bucket{namespace="test",deployment=~"podinfo",direction="inbound"}[90s])) by (le)`
	wantPrimaryHist     = `sum(increase(response_latency_ms_bucket{namespace="test",deployment=~"podinfo-primary",direction="inbound"}[90s])) by (le)`
)

func newSource(t *testing.T, now time.Time) (*replay, *Source) {
	t.Helper()
	rep, srv := newReplay(t)
	c, err := NewClient(Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return rep, NewSource(c, func() time.Time { return now })
}

func one(v string) string { return vectorJSON(sampleJSON(``, v)) }

func TestSourceSuccessRate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rep, src := newSource(t, now)
	rep.set(wantSuccessRate, 200, one("97.5"))
	rep.set(wantSamples, 200, one("400.2"))
	rep.set(wantCanaryRequests, 200, one("612.4"))
	rep.set(wantCanaryFailures, 200, one("14.6"))
	rep.set(wantPrimaryRequests, 200, one("5400"))
	rep.set(wantPrimaryFailures, 200, vectorJSON()) // no failure series yet

	obs, err := src.Query(context.Background(), testCanary(), v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"}, now.Add(-89500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !obs.HasValue || obs.Value != 97.5 || obs.Samples != 400 {
		t.Errorf("value = %+v, want 97.5 over 400 samples", obs)
	}
	if !obs.HasCounts || obs.Canary.Requests != 612 || obs.Canary.Failures != 15 ||
		obs.Primary.Requests != 5400 || obs.Primary.Failures != 0 {
		t.Errorf("counts = canary %+v primary %+v", obs.Canary, obs.Primary)
	}
	if obs.Canary.Latency.Bounds != nil {
		t.Errorf("success rate should not read histograms, got %+v", obs.Canary.Latency)
	}
}

// TestSourceReadsThePrimarysHistory: the primary's counts over the
// judge.BaselineSpan before the analysis began, evaluated at its start; a
// failed history query leaves the baseline empty and the rest intact.
func TestSourceReadsThePrimarysHistory(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	since := now.Add(-89500 * time.Millisecond)
	const (
		wantHistoryRequests = `sum(increase(response_total{namespace="test",deployment=~"podinfo-primary",direction="inbound"}[3600s]))`
		wantHistoryFailures = `sum(increase(response_total{namespace="test",deployment=~"podinfo-primary",classification="failure",direction="inbound"}[3600s]))`
	)
	rep, src := newSource(t, now)
	rep.set(wantSuccessRate, 200, one("99.5"))
	rep.set(wantSamples, 200, one("400"))
	rep.set(wantCanaryRequests, 200, one("600"))
	rep.set(wantCanaryFailures, 200, one("3"))
	rep.set(wantPrimaryRequests, 200, one("5400"))
	rep.set(wantPrimaryFailures, 200, one("54"))
	m := v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"}

	obs, err := src.Query(context.Background(), testCanary(), m, since)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Baseline.Requests != 0 || obs.Baseline.Failures != 0 || obs.Primary.Requests != 5400 {
		t.Errorf("without history: baseline %+v primary %+v, want an empty baseline and the primary's counts", obs.Baseline, obs.Primary)
	}

	rep.set(wantHistoryRequests, 200, one("6000"))
	rep.set(wantHistoryFailures, 200, one("61"))
	if obs, err = src.Query(context.Background(), testCanary(), m, since); err != nil {
		t.Fatal(err)
	}
	if obs.Baseline.Requests != 6000 || obs.Baseline.Failures != 61 {
		t.Errorf("baseline %+v, want 6000 requests and 61 failures", obs.Baseline)
	}
	// The history does not change while the analysis runs: it is read
	// once.
	rep.set(wantHistoryRequests, 200, one("7000"))
	if obs, err = src.Query(context.Background(), testCanary(), m, since); err != nil {
		t.Fatal(err)
	}
	if obs.Baseline.Requests != 6000 {
		t.Errorf("baseline read again during the analysis: %+v, want the 6000 requests read first", obs.Baseline)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	for i, q := range rep.asked {
		if q == wantHistoryRequests && rep.times[i] != "1799999910.5" {
			t.Errorf("history evaluated at %q, want the analysis start 1799999910.5", rep.times[i])
		}
	}
}

func TestSourceDuration(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rep, src := newSource(t, now)
	rep.set(wantDuration, 200, one("212.5"))
	rep.set(wantSamples, 200, one("60"))
	rep.set(wantCanaryRequests, 200, one("90"))
	rep.set(wantCanaryFailures, 200, one("0"))
	rep.set(wantPrimaryRequests, 200, one("810"))
	rep.set(wantPrimaryFailures, 200, one("1"))
	// Buckets out of order, with an extrapolated count that dips below
	// the one before it.
	rep.set(wantCanaryHist, 200, vectorJSON(
		sampleJSON(`"le":"+Inf"`, "90.2"),
		sampleJSON(`"le":"10"`, "40.4"),
		sampleJSON(`"le":"5"`, "40.6"),
		sampleJSON(`"le":"500"`, "89.9"),
	))
	rep.set(wantPrimaryHist, 200, vectorJSON())

	obs, err := src.Query(context.Background(), testCanary(), v1beta1.CanaryMetric{Name: RequestDuration}, now.Add(-90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !obs.HasValue || obs.Value != 212.5 || obs.Samples != 60 {
		t.Errorf("value = %+v, want 212.5 over 60 samples", obs)
	}
	h := obs.Canary.Latency
	wantBounds := []float64{5, 10, 500, math.Inf(1)}
	wantCounts := []int64{41, 41, 90, 90}
	if len(h.Bounds) != len(wantBounds) {
		t.Fatalf("canary histogram = %+v", h)
	}
	for i := range wantBounds {
		if h.Bounds[i] != wantBounds[i] || h.Counts[i] != wantCounts[i] {
			t.Errorf("bucket %d = (%v, %d), want (%v, %d)", i, h.Bounds[i], h.Counts[i], wantBounds[i], wantCounts[i])
		}
	}
	if obs.Primary.Latency.Bounds != nil || obs.Primary.Requests != 810 || obs.Primary.Failures != 1 {
		t.Errorf("primary = %+v", obs.Primary)
	}
}

func TestSourceNoData(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rep, src := newSource(t, now)
	rep.set(wantSuccessRate, 200, one("NaN")) // 0/0: no requests
	rep.set(wantSamples, 200, vectorJSON())
	obs, err := src.Query(context.Background(), testCanary(), v1beta1.CanaryMetric{Name: RequestSuccessRate}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if obs.HasValue || obs.Samples != -1 || obs.HasCounts {
		t.Errorf("observation = %+v, want no data, unknown samples and no counts", obs)
	}
}

func TestSourceErrors(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		setup   func(*replay)
		metric  string
		wantErr string
	}{
		{
			name: "value query fails",
			setup: func(r *replay) {
				r.set(wantSuccessRate, 422, `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`)
			},
			metric:  RequestSuccessRate,
			wantErr: "many-to-many",
		},
		{
			name: "several series",
			setup: func(r *replay) {
				r.set(wantDuration, 200, vectorJSON(sampleJSON(`"pod":"a"`, "1"), sampleJSON(`"pod":"b"`, "2")))
			},
			metric:  RequestDuration,
			wantErr: "returned 2 series",
		},
		{
			name: "count query fails",
			setup: func(r *replay) {
				r.set(wantSuccessRate, 200, one("100"))
				r.set(wantSamples, 200, one("10"))
				r.set(wantCanaryRequests, 503, "down")
			},
			metric:  RequestSuccessRate,
			wantErr: "503",
		},
		{
			name: "histogram without le",
			setup: func(r *replay) {
				r.set(wantDuration, 200, one("10"))
				r.set(wantSamples, 200, one("10"))
				r.set(wantCanaryRequests, 200, one("10"))
				r.set(wantCanaryFailures, 200, one("0"))
				r.set(wantCanaryHist, 200, vectorJSON(sampleJSON(`"pod":"a"`, "2")))
			},
			metric:  RequestDuration,
			wantErr: "no le label",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, src := newSource(t, now)
			tt.setup(rep)
			_, err := src.Query(context.Background(), testCanary(), v1beta1.CanaryMetric{Name: tt.metric}, now.Add(-90*time.Second))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.metric) {
				t.Fatalf("Query() error = %v, want it to name %s and contain %q", err, tt.metric, tt.wantErr)
			}
		})
	}
}

func TestSourceRejectsOtherMetrics(t *testing.T) {
	_, src := newSource(t, time.Now())
	if _, err := src.Query(context.Background(), testCanary(), v1beta1.CanaryMetric{Name: "error-rate"}, time.Time{}); err == nil {
		t.Fatal("a metric that is not built in must be an error")
	}
}

// TestSourceWindowStartsWithTheAnalysis checks that 25 s into an analysis
// the value is over those 25 s, not the metric's minute (which would hold
// the requests an earlier revision served as the canary), and that a range
// with no data (too short for the scrape interval) falls back to the
// interval as written.
func TestSourceWindowStartsWithTheAnalysis(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	short := func(q string) string { return strings.ReplaceAll(q, "[1m]", "[25s]") }
	counts := func(rep *replay) {
		for _, q := range []string{wantCanaryRequests, wantCanaryFailures, wantPrimaryRequests, wantPrimaryFailures} {
			rep.set(strings.ReplaceAll(q, "[90s]", "[25s]"), 200, one("1"))
		}
	}
	metric := v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"}
	since := now.Add(-24500 * time.Millisecond)

	t.Run("analysis younger than the interval", func(t *testing.T) {
		rep, src := newSource(t, now)
		counts(rep)
		rep.set(short(wantSuccessRate), 200, one("96"))
		rep.set(short(wantSamples), 200, one("25"))
		rep.set(wantSuccessRate, 200, one("99.5")) // diluted by the earlier revision
		obs, err := src.Query(context.Background(), testCanary(), metric, since)
		if err != nil {
			t.Fatal(err)
		}
		if !obs.HasValue || obs.Value != 96 || obs.Samples != 25 {
			t.Errorf("observation = %+v, want 96%% over the 25 samples since the analysis began", obs)
		}
	})
	t.Run("no data in the short range", func(t *testing.T) {
		rep, src := newSource(t, now)
		counts(rep)
		rep.set(short(wantSuccessRate), 200, vectorJSON())
		rep.set(wantSuccessRate, 200, one("99.5"))
		rep.set(wantSamples, 200, one("400"))
		obs, err := src.Query(context.Background(), testCanary(), metric, since)
		if err != nil {
			t.Fatal(err)
		}
		if !obs.HasValue || obs.Value != 99.5 || obs.Samples != 400 {
			t.Errorf("observation = %+v, want the value over the interval as written", obs)
		}
	})
}

func TestAnalysisWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		interval string
		since    time.Time
		want     string
		wantOK   bool
	}{
		{"1m", now.Add(-10 * time.Second), "10s", true},
		{"1m", now.Add(-10100 * time.Millisecond), "11s", true},
		{"1m", now.Add(-time.Minute), "", false},
		{"1m", now.Add(-time.Hour), "", false},
		{"2h", now.Add(-90 * time.Minute), "5400s", true},
		{"1m", time.Time{}, "", false},
		{"1m", now.Add(time.Second), "", false},
		{"soon", now.Add(-time.Second), "", false},
	}
	for _, tt := range tests {
		got, ok := analysisWindow(tt.interval, now, tt.since)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("analysisWindow(%q, since %s) = %q, %v; want %q, %v", tt.interval, now.Sub(tt.since), got, ok, tt.want, tt.wantOK)
		}
	}
}
