package judge

import (
	"fmt"
	"math"
	"slices"

	"github.com/serinhq/serin/api/v1beta1"
)

// DefaultAlpha is the false-rollback rate the sequential judge allows per
// metric when the Canary does not say.
const DefaultAlpha = 0.01

// DefaultTolerance is how much worse than the primary a canary may be and
// still be treated as no regression: its odds of a failure may be up to
// 1.2 times the primary's.
const DefaultTolerance = 1.2

// DefaultLatencyTolerance is the same for the odds of a slow request. It is
// wider because a slow request is one above a bucket bound of Linkerd's
// coarse histogram: a shift of a few milliseconds near the bound moves the
// share above it by a large factor.
const DefaultLatencyTolerance = 1.5

// durationQuantile is the quantile of request-duration (Linkerd's p99).
const durationQuantile = 0.99

// tailQuantile sets what a slow request is when the canary's latency is
// compared with the primary's: slower than the bucket that holds this
// quantile of both versions' requests together.
const tailQuantile = 0.95

// Sequential compares the canary against the primary over the same span
// with always-valid sequential tests on the cumulative counts of requests,
// failures and latency buckets, so that judging after every evaluation does
// not inflate the false-rollback rate beyond Alpha.
//
// For error rates it asks whether failures fall on the canary more often
// than its share of the requests says; for latency, whether requests slower
// than the primary's p99 bucket do. The metric's thresholdRange is a hard
// limit on the canary's own rate, judged with the same kind of test. A
// metric without counts is left to Fallback.
type Sequential struct {
	// Alpha bounds the chance of a Fail for a canary that is no worse than
	// the primary (and within its hard limits), however often it is judged.
	Alpha float64
	// Tolerance is the factor on the primary's odds of a failure up to
	// which the canary is not a regression; at least 1.
	Tolerance float64
	// LatencyTolerance is the same for the odds of a slow request.
	LatencyTolerance float64
	// Fallback judges metrics that come without counts (templates), and
	// errors of the source; the threshold judge. Nil means Wait.
	Fallback Judge
}

var _ Judge = (*Sequential)(nil)

// NewSequential returns a sequential judge with the given alpha (0 means
// DefaultAlpha) that leaves metrics without counts to fallback.
func NewSequential(alpha float64, fallback Judge) *Sequential {
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	return &Sequential{Alpha: alpha, Tolerance: DefaultTolerance, LatencyTolerance: DefaultLatencyTolerance, Fallback: fallback}
}

// Judge returns the verdict for one metric from its cumulative counts.
func (s *Sequential) Judge(m v1beta1.CanaryMetric, o Observation) Result {
	if o.Err != "" || !o.HasCounts {
		if s.Fallback == nil {
			return Result{Metric: m.Name, Verdict: Wait, Samples: o.Samples,
				Reason: fmt.Sprintf("%s: no counts to compare", m.Name)}
		}
		return s.Fallback.Judge(m, o)
	}
	res, suspect := s.compare(m, o)
	return s.withWindowCheck(m, o, res, suspect)
}

// compare runs the statistical tests on the cumulative counts; suspect
// says a regression looks likely but is not shown yet.
func (s *Sequential) compare(m v1beta1.CanaryMetric, o Observation) (_ Result, suspect bool) {
	if o.Canary.Requests <= 0 {
		return Result{Metric: m.Name, Verdict: Wait,
			Reason: fmt.Sprintf("%s: waiting for traffic to the canary", m.Name)}, false
	}
	if o.Primary.Requests <= 0 {
		return Result{Metric: m.Name, Verdict: Wait, Samples: o.Canary.Requests,
			Reason: fmt.Sprintf("%s: waiting for traffic to the primary to compare against", m.Name)}, false
	}
	if isDuration(m, o) {
		return s.judgeDuration(m, o)
	}
	return s.judgeErrors(m, o)
}

func isDuration(m v1beta1.CanaryMetric, o Observation) bool {
	switch m.Name {
	case RequestDuration:
		return true
	case RequestSuccessRate:
		return false
	}
	return len(o.Canary.Latency.Bounds) > 0 && len(o.Primary.Latency.Bounds) > 0
}

// bound returns the Bayes factor a test must reach, and its log.
func (s *Sequential) bound() (logBound, bound float64) {
	alpha := s.Alpha
	if alpha <= 0 || alpha >= 1 {
		alpha = DefaultAlpha
	}
	return math.Log(1 / alpha), 1 / alpha
}

func (s *Sequential) tolerance() float64 {
	return max(s.Tolerance, 1)
}

func (s *Sequential) latencyTolerance() float64 {
	return max(s.LatencyTolerance, 1)
}

func (s *Sequential) judgeErrors(m v1beta1.CanaryMetric, o Observation) (Result, bool) {
	c, p := o.Canary, o.Primary
	cRate := float64(c.Failures) / float64(c.Requests)
	pRate := float64(p.Failures) / float64(p.Requests)
	cValue, pValue := 100*(1-cRate), 100*(1-pRate)
	res := Result{Metric: m.Name, Value: &cValue, Primary: &pValue, Samples: c.Requests}

	t := test{cmp: compareShares(c.Failures, c.Requests, p.Failures, p.Requests, s.tolerance())}
	t.cmpHead = fmt.Sprintf("%s canary %s errors vs primary %s (n=%d vs %d)",
		m.Name, pct(cRate), pct(pRate), c.Requests, p.Requests)
	if lo, _ := Bounds(m); lo != nil {
		limit := 1 - *lo/100
		hard := exceedsLimit(c.Failures, c.Requests, limit)
		t.hard = &hard
		t.hardHead = fmt.Sprintf("%s canary %s errors (n=%d) above the %s its threshold allows (min %s%%)",
			m.Name, pct(cRate), c.Requests, pct(limit), fnum(*lo))
	}
	return s.decide(res, t)
}

func (s *Sequential) judgeDuration(m v1beta1.CanaryMetric, o Observation) (Result, bool) {
	ch, ph := o.Canary.Latency, o.Primary.Latency
	cn, pn := histTotal(ch, o.Canary.Requests), histTotal(ph, o.Primary.Requests)
	if cn <= 0 || pn <= 0 || len(ch.Bounds) == 0 || len(ph.Bounds) == 0 {
		return Result{Metric: m.Name, Verdict: Wait, Samples: o.Canary.Requests,
			Reason: fmt.Sprintf("%s: waiting for latency histograms of both versions", m.Name)}, false
	}
	cQ, pQ := histQuantile(durationQuantile, ch, cn), histQuantile(durationQuantile, ph, pn)
	res := Result{Metric: m.Name, Value: &cQ, Primary: &pQ, Samples: cn}

	tail, whose := tailBound(o)
	cSlow := cn - countAtMost(ch, tail)
	pSlow := pn - countAtMost(ph, tail)
	t := test{cmp: compareShares(cSlow, cn, pSlow, pn, s.latencyTolerance())}
	t.cmpHead = fmt.Sprintf("%s canary %s of requests slower than %sms (%s) vs primary %s (n=%d vs %d)",
		m.Name, pct(float64(cSlow)/float64(cn)), fnum(tail), whose, pct(float64(pSlow)/float64(pn)), cn, pn)

	// The hard limit: a p99 above the maximum means more than 1% of the
	// canary's requests slower than it; counted above the first bucket
	// bound not below the maximum, which can only undercount.
	if _, hi := Bounds(m); hi != nil {
		if limitBound := boundAtLeast(ch, *hi); !math.IsInf(limitBound, 1) {
			slow := cn - countAtMost(ch, limitBound)
			hard := exceedsLimit(slow, cn, 1-durationQuantile)
			t.hard = &hard
			t.hardHead = fmt.Sprintf("%s canary %s of requests slower than %sms (n=%d), more than the %s its p99 limit (max %sms) allows",
				m.Name, pct(float64(slow)/float64(cn)), fnum(limitBound), cn, pct(1-durationQuantile), fnum(*hi))
		}
	}
	return s.decide(res, t)
}

// minTailHistory is how many requests of the primary's history it takes
// to set the latency comparison's bound from the history alone.
const minTailHistory = 1000

// tailBound returns the bound above which a request counts as slow in the
// latency comparison, and words that say where it comes from.
//
// With enough of the primary's history, it is the upper bound of the
// bucket holding the history's 95th percentile: fixed before the analysis
// began, so under the null each slow request is the canary's with the
// canary's share of the requests, exactly. Without it, the p95 bucket of
// both versions' requests so far: a symmetric function of the pooled
// requests, which keeps that property but for the bound moving as data
// arrive.
func tailBound(o Observation) (float64, string) {
	ch, ph, bh := o.Canary.Latency, o.Primary.Latency, o.Baseline.Latency
	if hn := histTotal(bh, o.Baseline.Requests); hn >= minTailHistory && slices.Equal(bh.Bounds, ch.Bounds) {
		return bucketAbove(tailQuantile, bh, hn), "p95 bucket of the primary's history"
	}
	total := histTotal(ch, o.Canary.Requests) + histTotal(ph, o.Primary.Requests)
	return bucketAbove(tailQuantile, pooled(ch, ph), total), "p95 bucket of both"
}

// test is the comparison with the primary and, when the metric has one,
// the test of its hard limit, with the words that describe each.
type test struct {
	cmp      comparison
	cmpHead  string
	hard     *comparison
	hardHead string
}

// decide turns the tests of one metric into Fail (a regression or a broken
// limit shown), Wait (too few samples to have caught even a canary that
// fails everything) or Pass.
//
// The two tests are combined by averaging their Bayes factors: the average
// of two test supermartingales is one too when the canary is no worse than
// the primary and within its limits, so together they keep the false
// rollbacks under alpha without splitting it.
//
// suspect says the comparison leans towards a regression without having
// shown it yet.
func (s *Sequential) decide(res Result, t test) (_ Result, suspect bool) {
	logBound, bound := s.bound()
	logBF, power := t.cmp.logBF, t.cmp.powerLogBF
	head, failWord := t.cmpHead, "regression"
	if t.hard != nil {
		logBF = logMeanExp([]float64{t.cmp.logBF, t.hard.logBF})
		power = logMeanExp([]float64{t.cmp.powerLogBF, t.hard.powerLogBF})
		if t.hard.logBF > t.cmp.logBF {
			head, failWord = t.hardHead, "limit broken"
		}
	}
	switch {
	case logBF >= logBound:
		res.Verdict, res.Conclusive = Fail, true
		res.Reason = fmt.Sprintf("%s, Bayes factor %s >= %s: %s", head, bf(logBF), fnum(bound), failWord)
	case logBF >= logBound/2:
		res.Verdict, suspect = Wait, true
		res.Reason = fmt.Sprintf("%s, Bayes factor %s >= %s: holding until it is clear", head, bf(logBF), fnum(math.Sqrt(bound)))
	case power < logBound:
		res.Verdict = Wait
		res.Reason = fmt.Sprintf("%s, Bayes factor %s < %s: too few samples yet", t.cmpHead, bf(logBF), fnum(bound))
	default:
		res.Verdict = Pass
		res.Reason = fmt.Sprintf("%s, Bayes factor %s < %s: no regression", t.cmpHead, bf(logBF), fnum(bound))
	}
	return res, suspect
}

// pct formats a share as a percentage with one decimal, or more for small
// shares.
func pct(share float64) string {
	v := share * 100
	switch {
	case v == 0 || v >= 1:
		return fmt.Sprintf("%.1f%%", v)
	case v >= 0.1:
		return fmt.Sprintf("%.2f%%", v)
	default:
		return fmt.Sprintf("%.3f%%", v)
	}
}

// fnum formats a number without needless decimals.
func fnum(v float64) string {
	return fmt.Sprintf("%.4g", v)
}

// bf formats a Bayes factor given its log.
func bf(logBF float64) string {
	switch {
	case math.IsInf(logBF, 1) || logBF > 700:
		return "inf"
	case logBF > math.Log(1e6):
		return fmt.Sprintf("%.2g", math.Exp(logBF))
	case logBF >= math.Log(10):
		return fmt.Sprintf("%.0f", math.Exp(logBF))
	default:
		return fmt.Sprintf("%.2g", math.Exp(logBF))
	}
}

// sequentialFor returns the sequential judge an analysis configures (its
// alpha and tolerance), with the threshold judge for metrics without
// counts. The analysis's alpha is the false-rollback rate of the whole
// release, so it is shared out equally among its metrics. A tolerance the
// analysis sets applies to error rates and latency alike.
func sequentialFor(spec *v1beta1.CanaryAnalysis) *Sequential {
	alpha := DefaultAlpha
	if spec != nil && spec.Judge != nil && spec.Judge.Alpha != nil && *spec.Judge.Alpha > 0 && *spec.Judge.Alpha < 1 {
		alpha = *spec.Judge.Alpha
	}
	if spec != nil && len(spec.Metrics) > 1 {
		alpha /= float64(len(spec.Metrics))
	}
	s := NewSequential(alpha, Threshold{})
	if spec != nil && spec.Judge != nil && spec.Judge.Tolerance != nil && *spec.Judge.Tolerance >= 1 {
		s.Tolerance, s.LatencyTolerance = *spec.Judge.Tolerance, *spec.Judge.Tolerance
	}
	return s
}
