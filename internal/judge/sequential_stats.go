package judge

import "math"

// mixtureLogBF returns the log of the Bayes factor of a mixture sequential
// probability ratio test on x "hits" in n Bernoulli trials: the null is that
// each trial hits with probability at most p0.
//
// The alternatives are a mixture with equal weights over a geometric grid of
// odds ratios, from a modest regression (1.5x the odds) to a canary that
// fails everything. A discrete mixture of likelihood ratios is itself a test
// martingale: under the null the Bayes factor is a non-negative
// supermartingale with mean at most one, so the chance that it ever reaches
// 1/alpha is at most alpha (Ville's inequality), however often it is looked
// at.
func mixtureLogBF(x, n int64, p0 float64) float64 {
	if n <= 0 || x < 0 {
		return 0
	}
	if x > n {
		x = n
	}
	if p0 <= 0 {
		if x > 0 {
			return math.Inf(1)
		}
		return 0
	}
	if p0 >= 1 {
		return math.Inf(-1)
	}
	oddsGrid := [...]float64{1.5, 2, 3, 5, 10, 30, 100, 1000, 1e5}
	hits, misses := float64(x), float64(n-x)
	odds0 := p0 / (1 - p0)
	terms := make([]float64, 0, len(oddsGrid))
	for _, r := range oddsGrid {
		odds1 := odds0 * r
		p1 := odds1 / (1 + odds1)
		if p1 >= 1 {
			p1 = math.Nextafter(1, 0)
		}
		terms = append(terms, hits*math.Log(p1/p0)+misses*(math.Log1p(-p1)-math.Log1p(-p0)))
	}
	return logMeanExp(terms)
}

// logMeanExp returns log(mean(exp(v))) without overflow.
func logMeanExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s/float64(len(v)))
}

// shareNull returns the probability, under the null "the canary is no
// worse than the primary by more than the factor tolerance", that an event
// (a failure, a slow request) falls on the canary, given that the canary
// served the share s of the requests: the odds of s raised by tolerance.
func shareNull(s, tolerance float64) float64 {
	if s <= 0 || s >= 1 {
		return s
	}
	o := s / (1 - s) * tolerance
	return o / (1 + o)
}

// comparison is the outcome of one always-valid test.
type comparison struct {
	logBF float64 // log Bayes factor against the null
	// powerLogBF is the log Bayes factor the test would reach if every
	// canary request so far had been a hit: when even that stays under the
	// bound, the samples are too few to pass the canary.
	powerLogBF float64
}

// compareShares tests whether events fall on the canary more often than its
// share of requests says: canaryHits of canaryN canary requests and
// primaryHits of primaryN primary requests were events. Given the events,
// under the null each falls on the canary with probability equal to the
// canary's share of requests (the conditional test of two Poisson rates),
// raised by tolerance.
func compareShares(canaryHits, canaryN, primaryHits, primaryN int64, tolerance float64) comparison {
	s := float64(canaryN) / float64(canaryN+primaryN)
	p0 := shareNull(s, tolerance)
	return comparison{
		logBF:      mixtureLogBF(canaryHits, canaryHits+primaryHits, p0),
		powerLogBF: mixtureLogBF(canaryN, canaryN+primaryHits, p0),
	}
}

// exceedsLimit tests whether more than the share limit of the canary's n
// requests are hits (failures, or requests slower than a bound).
func exceedsLimit(hits, n int64, limit float64) comparison {
	return comparison{
		logBF:      mixtureLogBF(hits, n, limit),
		powerLogBF: mixtureLogBF(n, n, limit),
	}
}
