package sim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// LinkerdBounds are the upper bounds (ms) of Linkerd's
// response_latency_ms histogram buckets.
func LinkerdBounds() []float64 {
	return []float64{1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
		1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000, math.Inf(1)}
}

// Latency is a log-normal distribution of request durations given by its
// median and 99th percentile; P99 equal to P50 means every request takes
// exactly P50.
type Latency struct {
	P50 time.Duration
	P99 time.Duration
}

// Version is how one version of the service behaves.
type Version struct {
	// ErrorRate is the share of requests that fail (0..1).
	ErrorRate float64
	Latency   Latency
}

// Change replaces the canary's behaviour At a time after the release
// started (a regression that shows only after a while).
type Change struct {
	At     time.Duration
	Canary Version
}

// Scenario is the traffic the simulated service gets and how its two
// versions behave.
type Scenario struct {
	// RPS is the total request rate, split between primary and canary by
	// the canary weight; arrivals are Poisson.
	RPS     float64
	Primary Version
	Canary  Version
	// Changes to the canary, in order of At.
	Changes []Change
	// PrimaryErrorBefore is the primary's error rate before the release
	// (its history), when it differs from Primary.ErrorRate: a primary
	// whose error rate changed shortly before a release. Nil: the same.
	PrimaryErrorBefore *float64
}

// Validate reports every problem of the scenario.
func (s Scenario) Validate() error {
	var errs []string
	if s.RPS <= 0 || math.IsInf(s.RPS, 0) || math.IsNaN(s.RPS) {
		errs = append(errs, fmt.Sprintf("rps: must be positive, got %v", s.RPS))
	}
	check := func(path string, v Version) {
		if !(v.ErrorRate >= 0 && v.ErrorRate <= 1) {
			errs = append(errs, fmt.Sprintf("%s.errorRate: must be between 0 and 1, got %v", path, v.ErrorRate))
		}
		if v.Latency.P50 <= 0 {
			errs = append(errs, fmt.Sprintf("%s.latency.p50: must be positive, got %v", path, v.Latency.P50))
		}
		if v.Latency.P99 < v.Latency.P50 {
			errs = append(errs, fmt.Sprintf("%s.latency.p99: must be at least p50 (%v), got %v", path, v.Latency.P50, v.Latency.P99))
		}
	}
	check("primary", s.Primary)
	if b := s.PrimaryErrorBefore; b != nil && !(*b >= 0 && *b <= 1) {
		errs = append(errs, fmt.Sprintf("primaryErrorBefore: must be between 0 and 1, got %v", *b))
	}
	check("canary", s.Canary)
	for i, c := range s.Changes {
		check(fmt.Sprintf("changes[%d].canary", i), c.Canary)
		if c.At < 0 {
			errs = append(errs, fmt.Sprintf("changes[%d].at: must not be negative, got %v", i, c.At))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &ScenarioError{Problems: errs}
}

// ScenarioError lists the problems of a Scenario.
type ScenarioError struct{ Problems []string }

func (e *ScenarioError) Error() string {
	msg := "invalid scenario: " + e.Problems[0]
	for _, p := range e.Problems[1:] {
		msg += "; " + p
	}
	return msg
}

// bucketMass returns the probability of each Linkerd bucket (not
// cumulative) for a latency distribution.
func bucketMass(l Latency, bounds []float64) []float64 {
	mass := make([]float64, len(bounds))
	p50 := float64(l.P50) / float64(time.Millisecond)
	if l.P99 <= l.P50 {
		for i, b := range bounds {
			if p50 <= b {
				mass[i] = 1
				return mass
			}
		}
		mass[len(mass)-1] = 1
		return mass
	}
	sigma := math.Log(float64(l.P99)/float64(l.P50)) / 2.3263478740408408
	prev := 0.0
	for i, b := range bounds {
		cdf := 1.0
		if !math.IsInf(b, 1) {
			cdf = 0.5 * math.Erfc(-(math.Log(b)-math.Log(p50))/(sigma*math.Sqrt2))
		}
		mass[i] = cdf - prev
		prev = cdf
	}
	return mass
}

// tally is what one version served: requests, failures and requests per
// latency bucket (not cumulative over buckets).
type tally struct {
	requests, failures int64
	buckets            []int64
}

func (a tally) plus(b tally) tally {
	out := tally{requests: a.requests + b.requests, failures: a.failures + b.failures, buckets: make([]int64, len(b.buckets))}
	for i := range out.buckets {
		if i < len(a.buckets) {
			out.buckets[i] = a.buckets[i]
		}
		out.buckets[i] += b.buckets[i]
	}
	return out
}

func (a tally) minus(b tally) tally {
	out := tally{requests: a.requests - b.requests, failures: a.failures - b.failures, buckets: make([]int64, len(a.buckets))}
	for i := range out.buckets {
		out.buckets[i] = a.buckets[i]
		if i < len(b.buckets) {
			out.buckets[i] -= b.buckets[i]
		}
	}
	return out
}

// span is one short span of simulated time, with what both versions served
// from the origin to its end (running totals, so that any range of spans is
// one subtraction).
type span struct {
	start, end      time.Duration // since the simulation's origin
	primary, canary tally
}

// Traffic generates the requests of a Scenario on a virtual clock and keeps
// what each version served, in spans of at most a second, so that it can
// answer windowed and cumulative queries as a metrics source would.
type Traffic struct {
	scenario Scenario
	rng      *rand.Rand
	bounds   []float64
	// release is when the canary's behaviour starts (set image); Changes
	// count from it.
	release  time.Duration
	released bool
	now      time.Duration
	spans    []span
	primary  []float64 // bucket mass
	canary   []float64
	change   int // next change to apply
	current  Version
}

// NewTraffic returns a traffic model at time zero.
func NewTraffic(s Scenario, rng *rand.Rand) *Traffic {
	b := LinkerdBounds()
	return &Traffic{
		scenario: s, rng: rng, bounds: b,
		primary: bucketMass(s.Primary.Latency, b),
		canary:  bucketMass(s.Canary.Latency, b),
		current: s.Canary,
	}
}

// Now is the current simulated time.
func (t *Traffic) Now() time.Duration { return t.now }

// Release marks the start of the release: the canary's Changes count from
// the current time.
func (t *Traffic) Release() { t.release, t.released = t.now, true }

// Promote makes the primary behave as the canary from now on.
func (t *Traffic) Promote() {
	t.scenario.Primary = t.current
	t.primary = bucketMass(t.current.Latency, t.bounds)
}

// Advance serves traffic until d later with the canary getting weight
// percent of the requests.
func (t *Traffic) Advance(d time.Duration, weight int) {
	end := t.now + d
	for t.now < end {
		next := min(t.now.Truncate(time.Second)+time.Second, end)
		t.applyChanges()
		if t.released && t.change < len(t.scenario.Changes) {
			next = min(next, t.release+t.scenario.Changes[t.change].At)
		}
		dt := (next - t.now).Seconds()
		w := float64(min(max(weight, 0), 100)) / 100
		var last span
		if n := len(t.spans); n > 0 {
			last = t.spans[n-1]
		}
		sp := span{start: t.now, end: next}
		primaryErr := t.scenario.Primary.ErrorRate
		if !t.released && t.scenario.PrimaryErrorBefore != nil {
			primaryErr = *t.scenario.PrimaryErrorBefore
		}
		sp.primary = last.primary.plus(t.serve(poisson(t.rng, t.scenario.RPS*(1-w)*dt), primaryErr, t.primary))
		sp.canary = last.canary.plus(t.serve(poisson(t.rng, t.scenario.RPS*w*dt), t.current.ErrorRate, t.canary))
		t.spans = append(t.spans, sp)
		t.now = next
	}
}

func (t *Traffic) applyChanges() {
	for t.released && t.change < len(t.scenario.Changes) && t.release+t.scenario.Changes[t.change].At <= t.now {
		t.current = t.scenario.Changes[t.change].Canary
		t.canary = bucketMass(t.current.Latency, t.bounds)
		t.change++
	}
}

func (t *Traffic) serve(n int64, errRate float64, mass []float64) tally {
	s := tally{requests: n, failures: binomial(t.rng, n, errRate), buckets: make([]int64, len(mass))}
	multinomial(t.rng, n, mass, s.buckets)
	return s
}

// Totals is what one version served over a span of time.
type Totals struct {
	Requests, Failures int64
}

// Served returns what the primary and the canary served since from.
func (t *Traffic) Served(from time.Duration) (primary, canary Totals) {
	p, c := t.since(from)
	return Totals{p.requests, p.failures}, Totals{c.requests, c.failures}
}

// since sums what each version served in the spans that start at or after
// from.
func (t *Traffic) since(from time.Duration) (primary, canary tally) {
	n := len(t.spans)
	if n == 0 {
		return tally{}, tally{}
	}
	i, _ := slices.BinarySearchFunc(t.spans, from, func(sp span, d time.Duration) int { return cmp.Compare(sp.start, d) })
	last := t.spans[n-1]
	if i == 0 {
		return last.primary, last.canary
	}
	if i >= n {
		return tally{buckets: make([]int64, len(t.bounds))}, tally{buckets: make([]int64, len(t.bounds))}
	}
	return last.primary.minus(t.spans[i-1].primary), last.canary.minus(t.spans[i-1].canary)
}

// upTo is what each version served from the origin to the end of the last
// span that ends at or before d.
func (t *Traffic) upTo(d time.Duration) (primary, canary tally) {
	i, _ := slices.BinarySearchFunc(t.spans, d, func(sp span, d time.Duration) int {
		if sp.end <= d {
			return -1
		}
		return 1
	})
	if i == 0 {
		return tally{buckets: make([]int64, len(t.bounds))}, tally{buckets: make([]int64, len(t.bounds))}
	}
	return t.spans[i-1].primary, t.spans[i-1].canary
}

// baseline is what the primary served in the judge.BaselineSpan before
// since: its history before the analysis.
func (t *Traffic) baseline(since time.Duration) judge.Counts {
	end, _ := t.upTo(since)
	start, _ := t.upTo(max(since-judge.BaselineSpan, 0))
	d := end.minus(start)
	return judge.Counts{Requests: d.requests, Failures: d.failures, Latency: cumulative(t.bounds, d.buckets)}
}

// counts is since as judge.Counts with cumulative histograms.
func (t *Traffic) counts(from time.Duration) (primary, canary judge.Counts) {
	p, c := t.since(from)
	conv := func(x tally) judge.Counts {
		return judge.Counts{Requests: x.requests, Failures: x.failures, Latency: cumulative(t.bounds, x.buckets)}
	}
	return conv(p), conv(c)
}

func cumulative(bounds []float64, per []int64) judge.Histogram {
	h := judge.Histogram{Bounds: bounds, Counts: make([]int64, len(bounds))}
	var sum int64
	for i := range bounds {
		if i < len(per) {
			sum += per[i]
		}
		h.Counts[i] = sum
	}
	return h
}

// Observe returns the observation a metrics source would return now for a
// built-in metric: the canary's value over the metric's interval, the
// cumulative counts of both versions since since, and the primary's
// history before it.
func (t *Traffic) Observe(m v1beta1.CanaryMetric, since time.Duration) (judge.Observation, error) {
	interval := time.Minute
	if m.Interval != "" {
		d, _, err := v1beta1.ParseMetricInterval(m.Interval)
		if err != nil {
			return judge.Observation{}, fmt.Errorf("metric %s: interval: %w", m.Name, err)
		}
		interval = d
	}
	_, window := t.counts(t.now - interval)
	primary, canary := t.counts(since)
	o := judge.Observation{
		Metric: m.Name, Samples: window.Requests,
		HasCounts: true, Canary: canary, Primary: primary, Baseline: t.baseline(since),
	}
	if window.Requests == 0 {
		return o, nil
	}
	o.HasValue = true
	switch m.Name {
	case judge.RequestSuccessRate:
		o.Value = 100 * float64(window.Requests-window.Failures) / float64(window.Requests)
	case judge.RequestDuration:
		o.Value = judge.HistogramQuantile(0.99, window.Latency)
	default:
		return judge.Observation{}, fmt.Errorf("metric %s: the simulation models only %s and %s", m.Name, judge.RequestSuccessRate, judge.RequestDuration)
	}
	return o, nil
}
