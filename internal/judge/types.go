package judge

import "time"

// Counts are the raw counts behind a rate or a latency, cumulative over the
// span being judged (since the analysis of the current revision began).
type Counts struct {
	// Requests and Failures (5xx, transport errors, timeouts) served.
	Requests int64
	Failures int64
	// Latency is a histogram of request durations, when the source has one.
	Latency Histogram
}

// Histogram is a cumulative latency histogram: Counts[i] requests took at
// most Bounds[i] milliseconds; the last bound may be +Inf.
type Histogram struct {
	Bounds []float64
	Counts []int64
}

// Observation is what a metric source returned for one metric of the
// analysis at one tick.
type Observation struct {
	// Metric is the Canary's metric name ("request-success-rate", ...).
	Metric string
	// HasValue is false when the source found no data ("no values").
	HasValue bool
	// Value of the canary over the metric's interval (percent for success
	// rates, milliseconds for durations, the template's unit otherwise).
	Value float64
	// Samples behind Value (requests in the interval), -1 when unknown.
	Samples int64
	// Canary and Primary hold cumulative counts when the source can give
	// them; HasCounts says so.
	HasCounts bool
	Canary    Counts
	Primary   Counts
	// Baseline is what the primary served over BaselineSpan before the
	// analysis began (its history), when the source keeps it; zero
	// Requests when it does not.
	Baseline Counts
	// Err is a failure to query (template error, provider unreachable),
	// which is neither a value nor "no data".
	Err string
	// Target names the workload the metric is about ("podinfo.test"), for
	// the judge's reasons. rollout.Step fills it when it is empty.
	Target string
}

// Verdict is a judge's answer for one metric.
type Verdict string

// The verdicts.
const (
	// Pass: the metric is within its limits (and, for a comparing judge,
	// shows no regression larger than the tolerated margin).
	Pass Verdict = "pass"
	// Fail: a limit is broken, or a regression is shown.
	Fail Verdict = "fail"
	// Wait: not enough data to say; the release holds its step.
	Wait Verdict = "wait"
)

// Result is a verdict with the numbers that led to it.
type Result struct {
	Metric  string
	Verdict Verdict
	// Value and Primary are the values compared, when known.
	Value   *float64
	Primary *float64
	Samples int64
	// Reason in words, e.g. "request-success-rate 97.2% < 99% (n=412)".
	Reason string
	// Conclusive marks a Fail that a statistical test settled: the release
	// rolls back at once instead of counting a failed check.
	Conclusive bool
}

// BaselineSpan is how much of the primary's history before the analysis
// sources return as Observation.Baseline. An hour holds enough requests
// (36000 at 10 RPS) that a clean stretch of the primary's rarely passes
// for its rate, which would make a canary as good as it look worse.
const BaselineSpan = time.Hour
