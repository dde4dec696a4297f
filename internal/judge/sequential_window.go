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
// with the threshold judge: the failed check is counted (not conclusive).
//
// Two exceptions, where a window breaks the limit by chance far more
// often than it shows a regression:
//
//   - The primary sits at the limit itself: when its own rate of failures
//     (or of requests slower than the latency limit) is, with 95%
//     confidence, at least half of what the limit allows, the comparison
//     with the primary judges instead, unless it already leans towards a
//     regression (suspect).
//   - Few failures among few requests (error rates): a window of a few
//     dozen requests with one failure breaks a 99% floor for a healthy
//     canary as for a broken one. When the primary is well within the
//     limit (its rate, with 95% confidence, under half of what the limit
//     allows) and the canary's failures so far are not clearly more than
//     the primary's history predicts (Bayes factor under countBreachAt
//     against the primary's hour before the analysis and its share of the
//     analysis), the release holds at its weight instead of counting a
//     failed check, and gathers the evidence the window lacked: a canary
//     that keeps failing is soon shown to, and then its breaches count.
//     The history decides this rather than the primary's share of the
//     analysis, which holds a few hundred requests where the history holds
//     tens of thousands; a comparison with the primary that shows a
//     regression still rolls back at once.
//
// The second uses the primary's history only while the primary agrees
// with it: when its requests during the analysis fail clearly more often
// than its history (historyDrifted), the history is set aside and
// breaches count.
//
// The hard-limit test on the cumulative counts still applies, so a canary
// shown to break the limit fails whatever the primary does. And where
// breaches may hold, a check that passes still holds the release while the
// canary's failures lean above the primary's history (Bayes factor at
// least leanAbove): a canary advances only on clean evidence, so holding
// on breaches does not let through what counting them would stop.
func (s *Sequential) withWindowCheck(m v1beta1.CanaryMetric, o Observation, res Result, suspect bool) Result {
	if res.Verdict == Fail {
		return res
	}
	check := Threshold{}.Judge(m, o)
	history, leaning := historyEvidence(m, o, s.tolerance())
	drifted, drift := historyDrifted(m, o, s.tolerance())
	within := history != "" && !drifted && primaryWellWithin(m, o)
	if check.Verdict != Fail {
		if within && res.Verdict == Pass && leaning >= math.Log(leanAbove) {
			res.Verdict = Wait
			res.Reason = fmt.Sprintf("%s; but %s, Bayes factor %s >= %s: holding until it is clear",
				res.Reason, history, bf(leaning), fnum(leanAbove))
		}
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
	if drifted {
		check.Reason += ", " + drift
	}
	if within && leaning < math.Log(countBreachAt) {
		check.Verdict = Wait
		check.Reason = fmt.Sprintf("%s, but %s, Bayes factor %s < %s: holding until the window shows whether it is chance",
			check.Reason, history, bf(leaning), fnum(countBreachAt))
	}
	return check
}

// The Bayes factors of the canary's failures against the primary's
// history at which the sequential judge counts a window's breach as a
// failed check (countBreachAt) and holds a release whose checks pass
// (leanAbove). Chosen with hack/judge/grid.sh: a healthy canary is
// promoted in 4998 of 5000 runs (the threshold judge: 4934), and no
// regression more often than by the threshold judge (docs/judge.md).
const (
	countBreachAt = 20
	leanAbove     = 2
)

// driftAt is the Bayes factor of the primary's failures during the
// analysis against its own history at which the history is set aside:
// the primary fails more often now than it did, so its history no longer
// tells what a canary as good as it would do.
const driftAt = 10

// historyDrifted says whether the primary's requests during the analysis
// fail clearly more often than its history (Bayes factor at least
// driftAt), and says so in words.
func historyDrifted(m v1beta1.CanaryMetric, o Observation, tolerance float64) (bool, string) {
	if !o.HasCounts || isDuration(m, o) || o.Baseline.Requests <= 0 || o.Primary.Requests <= 0 {
		return false, ""
	}
	c := compareShares(o.Primary.Failures, o.Primary.Requests, o.Baseline.Failures, o.Baseline.Requests, tolerance)
	if c.logBF < math.Log(driftAt) {
		return false, ""
	}
	return true, fmt.Sprintf("primary %s errors now vs %s over its history (n=%d vs %d), Bayes factor %s >= %s: history set aside",
		pct(share(o.Primary.Failures, o.Primary.Requests)), pct(share(o.Baseline.Failures, o.Baseline.Requests)),
		o.Primary.Requests, o.Baseline.Requests, bf(c.logBF), fnum(driftAt))
}

// primaryWellWithin says whether the primary's rate of failures over its
// history and the analysis is, with 95% confidence, under half of what
// the metric's floor allows: a canary as good as it rarely breaks the
// floor but by chance.
func primaryWellWithin(m v1beta1.CanaryMetric, o Observation) bool {
	lo, _ := Bounds(m)
	if lo == nil {
		return false
	}
	h := addCounts(o.Baseline, o.Primary)
	return upperBound(h.Failures, h.Requests) < (1-*lo/100)/2
}

// historyEvidence compares the canary's failures over the analysis with
// the primary's over its history before it and the analysis together,
// for error-rate metrics: the log Bayes factor that the canary fails more
// often, and words that say so; "" and 0 for latency metrics.
func historyEvidence(m v1beta1.CanaryMetric, o Observation, tolerance float64) (string, float64) {
	if !o.HasCounts || isDuration(m, o) || o.Canary.Requests <= 0 {
		return "", 0
	}
	h := addCounts(o.Baseline, o.Primary)
	if h.Requests <= 0 {
		return "", 0
	}
	cmp := compareShares(o.Canary.Failures, o.Canary.Requests, h.Failures, h.Requests, tolerance)
	return fmt.Sprintf("canary %s errors (n=%d) vs primary %s over its history (n=%d)",
		pct(share(o.Canary.Failures, o.Canary.Requests)), o.Canary.Requests,
		pct(share(h.Failures, h.Requests)), h.Requests), cmp.logBF
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

// upperBound is the one-sided 95% Wilson score upper bound of a rate seen
// as x hits in n trials; 1 without trials.
func upperBound(x, n int64) float64 {
	if n <= 0 {
		return 1
	}
	return 1 - lowerBound(n-min(x, n), n)
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
