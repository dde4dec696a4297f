//go:build unix

package metrics_test

import (
	"context"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/metrics"
	"github.com/serinhq/serin/internal/metrics/prometheus"
	"github.com/serinhq/serin/internal/telemetry"
	"github.com/serinhq/serin/internal/testenv"
)

// TestPrometheusIntegration runs the Prometheus source against a real
// Prometheus server scraping serin's own telemetry exposition (the metrics
// serin's proxy serves, under Linkerd's names) every second, with request
// counts the test controls.
func TestPrometheusIntegration(t *testing.T) {
	const scrape = time.Second
	store := telemetry.NewStore()
	reg := promclient.NewRegistry()
	reg.MustRegister(store.Collector())
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)

	canaryRec := store.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: "podinfo"})
	primaryRec := store.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: "podinfo-primary"})
	// Warm-up traffic, so that every series exists before the analysis
	// starts: the counts of the analysis are increases over it.
	canaryRec.Record(200, 4*time.Millisecond, 0, 0)
	canaryRec.Record(503, 40*time.Millisecond, 0, 0)
	primaryRec.Record(200, 2*time.Millisecond, 0, 0)
	primaryRec.Record(503, 2*time.Millisecond, 0, 0)

	prom := testenv.StartPrometheus(t, []string{strings.TrimPrefix(exporter.URL, "http://")}, scrape)
	ctx := t.Context()

	// The analysis starts once Prometheus has a sample of the warm-up
	// state taken after since.
	client, err := prometheus.NewClient(prometheus.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	waitFor(t, 60*time.Second, "a scrape after the analysis started", func() bool {
		ts, ok, err := client.Value(ctx, `min(timestamp(response_total{namespace="test"}))`, time.Now())
		return err == nil && ok && ts > float64(since.UnixMilli())/1000
	})

	// The canary: 180 fast successes and 20 slow failures (90%, p99 in
	// the (30, 40] ms bucket); the primary: 400 successes, 4 failures.
	for range 180 {
		canaryRec.Record(200, 4*time.Millisecond, 0, 0)
	}
	for range 20 {
		canaryRec.Record(503, 40*time.Millisecond, 0, 0)
	}
	for range 400 {
		primaryRec.Record(200, 2*time.Millisecond, 0, 0)
	}
	for range 4 {
		primaryRec.Record(503, 2*time.Millisecond, 0, 0)
	}

	src := metrics.New(metrics.Options{MetricsServer: prom.URL, Timeout: 5 * time.Second, Templates: templates})
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
	successRate := v1beta1.CanaryMetric{Name: metrics.RequestSuccessRate, Interval: "1m"}
	duration := v1beta1.CanaryMetric{Name: metrics.RequestDuration, Interval: "1m"}

	// Poll until every count is in and enough time has passed for
	// increase()'s extrapolation (at most a scrape interval at each end of
	// the span) to be small.
	var sr, dur judge.Observation
	waitFor(t, 90*time.Second, "the counts in Prometheus", func() bool {
		var err error
		if sr, err = src.Query(ctx, c, successRate, since); err != nil {
			t.Fatalf("query %s: %v", successRate.Name, err)
		}
		if dur, err = src.Query(ctx, c, duration, since); err != nil {
			t.Fatalf("query %s: %v", duration.Name, err)
		}
		return time.Since(since) > 10*time.Second &&
			sr.Canary.Requests >= 200 && sr.Canary.Failures >= 20 &&
			sr.Primary.Requests >= 404 && sr.Primary.Failures >= 4 &&
			len(dur.Canary.Latency.Counts) > 0 && dur.Canary.Latency.Counts[len(dur.Canary.Latency.Counts)-1] >= 200
	})
	elapsed := time.Since(since).Seconds()
	// increase() only overestimates here: the true count scaled by the
	// span over the sampled part of it.
	within := func(what string, got, want int64) {
		t.Helper()
		upper := int64(math.Ceil(float64(want)*elapsed/(elapsed-2*scrape.Seconds()))) + 1
		if got < want || got > upper {
			t.Errorf("%s = %d, want %d (at most %d after extrapolation over %.1fs)", what, got, want, upper, elapsed)
		}
	}

	// rate() extrapolates each series on its own (less so for a counter
	// that started near zero), so the ratios are close, not exact.
	if !sr.HasValue || math.Abs(sr.Value-90) > 1 {
		t.Errorf("request-success-rate = %v (has value %v), want 90", sr.Value, sr.HasValue)
	}
	if !sr.HasCounts {
		t.Fatal("request-success-rate has no counts")
	}
	within("samples over 1m", sr.Samples, 200)
	within("canary requests", sr.Canary.Requests, 200)
	within("canary failures", sr.Canary.Failures, 20)
	within("primary requests", sr.Primary.Requests, 404)
	within("primary failures", sr.Primary.Failures, 4)

	// histogram_quantile(0.99): rank 198 of 200 is the 18th of 20 in (30, 40].
	if !dur.HasValue || math.Abs(dur.Value-39) > 0.5 {
		t.Errorf("request-duration = %v (has value %v), want 39", dur.Value, dur.HasValue)
	}
	h := dur.Canary.Latency
	if len(h.Bounds) != 26 || !math.IsInf(h.Bounds[25], 1) {
		t.Fatalf("canary histogram bounds = %v, want Linkerd's 25 bounds and +Inf", h.Bounds)
	}
	within("canary requests <= 5ms", h.Counts[4], 180)
	within("canary requests <= 30ms", h.Counts[7], 180)
	within("canary requests <= 40ms", h.Counts[8], 200)
	within("canary requests", h.Counts[25], 200)
	within("primary requests <= 2ms", dur.Primary.Latency.Counts[1], 404)

	// Templates run against the same server.
	obs, err := src.Query(ctx, c, v1beta1.CanaryMetric{
		Name: "failures", Interval: "1m",
		TemplateRef:       &v1beta1.CrossNamespaceObjectReference{Name: "failures"},
		TemplateVariables: map[string]string{"class": "failure"},
	}, since)
	if err != nil {
		t.Fatalf("template query: %v", err)
	}
	if !obs.HasValue || obs.Value < 20 {
		t.Errorf("template failures = %+v, want at least 20", obs)
	}
	obs, err = src.Query(ctx, c, v1beta1.CanaryMetric{Name: "none", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "none"}}, since)
	if err != nil || obs.HasValue {
		t.Errorf("a query matching nothing = %+v, %v, want no data", obs, err)
	}
	_, err = src.Query(ctx, c, v1beta1.CanaryMetric{Name: "many", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "many"}}, since)
	if err == nil || !strings.Contains(err.Error(), "series, want 1") || !strings.Contains(err.Error(), strconv.Quote(`response_total{namespace="test"}`)) {
		t.Errorf("a query with several series: err = %v, want an error naming the query", err)
	}
}

func templates(_ context.Context, namespace, name string) (*v1beta1.MetricTemplate, error) {
	queries := map[string]string{
		"failures": `sum(increase(response_total{namespace="{{ namespace }}",deployment="{{ target }}",classification="{{ variables.class }}"}[{{ interval }}]))`,
		"none":     `sum(response_total{namespace="{{ namespace }}",deployment="nothing-here"})`,
		"many":     `response_total{namespace="{{ namespace }}"}`,
	}
	return &v1beta1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1beta1.MetricTemplateSpec{
			Provider: v1beta1.MetricTemplateProvider{Type: "prometheus"},
			Query:    queries[name],
		},
	}, nil
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		case <-tick.C:
		}
	}
}
