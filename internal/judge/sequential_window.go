package judge

import (
	"fmt"
	"math"
	"slices"

	"github.com/serinhq/serin/api/v1beta1"
)

// lowerBoundZ is the normal quantile of the one-sided 95% lower confidence
// bound on the primary's rate of failures (or slow requests).
const lowerBoundZ = 1.6448536269514722

// withWindowCheck adds Flagger's own check to the statistical verdict: the
// canary's value over the metric's interval against its thresholdRange.
// When the window breaks a limit the metric fails the check, as it would
// with the threshold judge: the failed check is counted (not conclusive),
// so the sequential judge never lets through what the threshold judge
// stops.
//
// The one exception is a limit the primary itself sits at: when the
// primary's own rate of failures (or of requests slower than the latency
// limit) is, with 95% confidence, at least half of what the limit allows,
// a window of the canary's requests breaks the limit by chance as often as
// not, and the comparison with the primary judges instead, unless it
// already leans towards a regression (suspect). The hard-limit test on the
// cumulative counts still applies, so a canary shown to break the limit
// fails whatever the primary does.
func (s *Sequential) withWindowCheck(m v1beta1.CanaryMetric, o Observation, res Result, suspect bool) Result {
	if res.Verdict == Fail {
		return res
	}
	check := Threshold{}.Judge(m, o)
	if check.Verdict != Fail {
		return res
	}
	at, why := primaryAtLimit(m, o)
	if at && !suspect {
		res.Reason = fmt.Sprintf("%s, but %s: judged against the primary: %s", check.Reason, why, res.Reason)
		return res
	}
	check.Primary = res.Primary
	if why != "" {
		check.Reason += ", " + why
	}
	return check
}

// primaryAtLimit says whether the primary's own rate of failures (or of
// requests slower than the latency limit), over its history and the
// analysis so far, is at least half of what the metric's limit allows with
// 95% confidence, and describes the primary's rate.
func primaryAtLimit(m v1beta1.CanaryMetric, o Observation) (bool, string) {
	if !o.HasCounts {
		return false, ""
	}
	lo, hi := Bounds(m)
	history := addCounts(o.Baseline, o.Primary)
	switch {
	case isDuration(m, o) && hi != nil:
		bound := boundAtLeast(history.Latency, *hi)
		if math.IsInf(bound, 1) {
			return false, ""
		}
		slow := func(c Counts) (int64, int64) {
			n := histTotal(c.Latency, c.Requests)
			return n - countAtMost(c.Latency, bound), n
		}
		allowed := 1 - durationQuantile
		hx, hn := slow(history)
		px, pn := slow(o.Primary)
		lcb := max(lowerBound(hx, hn), lowerBound(px, pn))
		return lcb >= allowed/2, fmt.Sprintf("primary %s of requests slower than %sms (n=%d)",
			pct(share(hx, hn)), fnum(bound), hn)
	case !isDuration(m, o) && lo != nil:
		allowed := 1 - *lo/100
		lcb := max(lowerBound(history.Failures, history.Requests), lowerBound(o.Primary.Failures, o.Primary.Requests))
		return allowed > 0 && lcb >= allowed/2, fmt.Sprintf("primary %s errors (n=%d)",
			pct(share(history.Failures, history.Requests)), history.Requests)
	}
	return false, ""
}

// addCounts sums the counts of an earlier span a and a later span b. Their
// histograms are summed when their bounds agree; otherwise b alone is
// kept, with its own counts, so that the sums stay consistent.
func addCounts(a, b Counts) Counts {
	if !slices.Equal(a.Latency.Bounds, b.Latency.Bounds) {
		return b
	}
	out := Counts{Requests: a.Requests + b.Requests, Failures: a.Failures + b.Failures}
	if len(a.Latency.Bounds) > 0 {
		out.Latency = pooled(a.Latency, b.Latency)
	}
	return out
}

func share(x, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// lowerBound is the one-sided 95% Wilson score lower bound of a rate seen
// as x hits in n trials; 0 without trials.
func lowerBound(x, n int64) float64 {
	if n <= 0 || x <= 0 {
		return 0
	}
	z2 := lowerBoundZ * lowerBoundZ
	fn := float64(n)
	p := float64(min(x, n)) / fn
	centre := p + z2/(2*fn)
	spread := lowerBoundZ * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	return max(0, (centre-spread)/(1+z2/fn))
}
