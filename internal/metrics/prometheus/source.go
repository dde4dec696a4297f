package prometheus

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/metrics/baseline"
	"github.com/serinhq/serin/internal/metrics/render"
)

// The built-in metrics.
const (
	RequestSuccessRate = "request-success-rate"
	RequestDuration    = "request-duration"
)

// The built-in queries over Linkerd's proxy metrics, as Flagger's. They
// are templates with the variables of package render.
const (
	// SuccessRateQuery is the canary's share of non-failed inbound
	// responses over the interval, in percent.
	SuccessRateQuery = `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`
	// DurationQuery is the canary's p99 inbound latency over the interval,
	// in milliseconds.
	DurationQuery = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`
	// RequestsQuery counts the inbound requests over the interval.
	RequestsQuery = `sum(increase(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}]))`
	// FailuresQuery counts the failed inbound requests over the interval.
	FailuresQuery = `sum(increase(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification="failure",direction="inbound"}[{{ interval }}]))`
	// HistogramQuery is the inbound latency histogram over the interval.
	HistogramQuery = `sum(increase(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le)`
)

// Source answers the built-in metrics from Prometheus. The canary is the
// deployment named by the Canary's targetRef, the primary the same name
// with "-primary", both in the Canary's namespace.
type Source struct {
	client  *Client
	now     func() time.Time
	history baseline.Cache
}

var _ engine.Source = (*Source)(nil)

// NewSource returns a Source querying client; now gives the time the
// queries are evaluated at and the end of the span of cumulative counts.
func NewSource(client *Client, now func() time.Time) *Source {
	return &Source{client: client, now: now}
}

// Query implements engine.Source for request-success-rate and
// request-duration.
func (s *Source) Query(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, since time.Time) (judge.Observation, error) {
	var valueQuery string
	switch m.Name {
	case RequestSuccessRate:
		valueQuery = SuccessRateQuery
	case RequestDuration:
		valueQuery = DurationQuery
	default:
		return judge.Observation{}, fmt.Errorf("metric %q is not a built-in metric", m.Name)
	}
	now := s.now()
	vars := render.VarsFor(c, m)
	obs := judge.Observation{Metric: m.Name, Samples: -1}

	// The value is over the metric's interval, but not from before the
	// analysis of this revision began: the requests an earlier revision
	// served under the canary's name are not this one's. A range too short
	// for the scrape interval has no data; the interval as written is the
	// fallback then.
	window := vars
	if w, ok := analysisWindow(vars.Interval, now, since); ok {
		window.Interval = w
	}
	v, ok, err := s.value(ctx, m.Name, valueQuery, window, now)
	if err == nil && !ok && window.Interval != vars.Interval {
		window = vars
		v, ok, err = s.value(ctx, m.Name, valueQuery, window, now)
	}
	if err != nil {
		return judge.Observation{}, err
	}
	obs.HasValue, obs.Value = ok, v

	if n, ok, err := s.value(ctx, m.Name, RequestsQuery, window, now); err != nil {
		return judge.Observation{}, err
	} else if ok {
		obs.Samples = count(n)
	}

	if since.IsZero() || !now.After(since) {
		return obs, nil
	}
	elapsed := int64(math.Ceil(now.Sub(since).Seconds()))
	span := vars
	span.Interval = strconv.FormatInt(elapsed, 10) + "s"
	latency := m.Name == RequestDuration
	canary, primary := span, span
	primary.Target = c.Spec.TargetRef.Name + "-primary"
	if obs.Canary, err = s.counts(ctx, m.Name, canary, latency, now); err != nil {
		return judge.Observation{}, err
	}
	if obs.Primary, err = s.counts(ctx, m.Name, primary, latency, now); err != nil {
		return judge.Observation{}, err
	}
	// The primary's history: what it served in the span before the
	// analysis began, evaluated at that moment, and read once per analysis
	// (it does not change). Without it (a failed query, or data that has
	// aged out) the judge does without.
	history := primary
	history.Interval = strconv.FormatInt(int64(judge.BaselineSpan/time.Second), 10) + "s"
	key := baseline.Key{Namespace: history.Namespace, Primary: history.Target, Metric: m.Name, Since: since}
	if b, err := s.history.Get(key, func() (judge.Counts, error) {
		return s.counts(ctx, m.Name, history, latency, since)
	}); err == nil {
		obs.Baseline = b
	}
	obs.HasCounts = true
	return obs, nil
}

// analysisWindow returns the range, in whole seconds, from since to now
// when that is shorter than interval (a Prometheus duration), and false
// when the interval is the shorter or since is unset.
func analysisWindow(interval string, now, since time.Time) (string, bool) {
	if since.IsZero() || !now.After(since) {
		return "", false
	}
	d, err := model.ParseDuration(interval)
	if err != nil {
		return "", false // render reports the bad interval
	}
	elapsed := time.Duration(math.Ceil(now.Sub(since).Seconds())) * time.Second
	if elapsed >= time.Duration(d) {
		return "", false
	}
	return strconv.FormatInt(int64(elapsed/time.Second), 10) + "s", true
}

func (s *Source) value(ctx context.Context, metric, tmpl string, vars render.Vars, now time.Time) (float64, bool, error) {
	q, err := render.Query(metric, tmpl, vars)
	if err != nil {
		return 0, false, err
	}
	v, ok, err := s.client.Value(ctx, q, now)
	if err != nil {
		return 0, false, fmt.Errorf("metric %s: %w", metric, err)
	}
	return v, ok, nil
}

// counts reads the requests, failures and, with latency, the latency
// histogram of one deployment over vars.Interval. No data is zero.
func (s *Source) counts(ctx context.Context, metric string, vars render.Vars, latency bool, now time.Time) (judge.Counts, error) {
	var out judge.Counts
	n, _, err := s.value(ctx, metric, RequestsQuery, vars, now)
	if err != nil {
		return out, err
	}
	out.Requests = count(n)
	n, _, err = s.value(ctx, metric, FailuresQuery, vars, now)
	if err != nil {
		return out, err
	}
	out.Failures = count(n)
	if !latency {
		return out, nil
	}
	q, err := render.Query(metric, HistogramQuery, vars)
	if err != nil {
		return out, err
	}
	vec, err := s.client.Vector(ctx, q, now)
	if err != nil {
		return out, fmt.Errorf("metric %s: %w", metric, err)
	}
	if out.Latency, err = histogram(vec); err != nil {
		return out, fmt.Errorf("metric %s: query %q: %w", metric, q, err)
	}
	return out, nil
}

// histogram turns the samples of a "by (le)" query into a cumulative
// histogram sorted by bound. increase() extrapolates each bucket on its own,
// so counts are rounded and kept non-decreasing.
func histogram(vec model.Vector) (judge.Histogram, error) {
	type bucket struct {
		le float64
		n  int64
	}
	buckets := make([]bucket, 0, len(vec))
	for _, s := range vec {
		raw, ok := s.Metric[model.BucketLabel]
		if !ok {
			return judge.Histogram{}, fmt.Errorf("series %s has no %s label", s.Metric, model.BucketLabel)
		}
		le, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return judge.Histogram{}, fmt.Errorf("series %s: bad bucket bound: %w", s.Metric, err)
		}
		buckets = append(buckets, bucket{le: le, n: count(float64(s.Value))})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	var h judge.Histogram
	var prev int64
	for _, b := range buckets {
		h.Bounds = append(h.Bounds, b.le)
		prev = max(prev, b.n)
		h.Counts = append(h.Counts, prev)
	}
	return h, nil
}

// count rounds a (possibly extrapolated) increase to a whole number of
// requests; NaN and negatives are zero.
func count(v float64) int64 {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	if math.IsInf(v, 1) {
		return math.MaxInt64
	}
	return int64(math.Round(v))
}
