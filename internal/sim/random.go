package sim

import (
	"math"
	"math/rand/v2"
)

// poisson draws from a Poisson distribution: exactly by multiplying
// uniforms for small means, by the normal approximation for large ones.
func poisson(rng *rand.Rand, mean float64) int64 {
	switch {
	case mean <= 0:
		return 0
	case mean < 30:
		limit, prod := math.Exp(-mean), rng.Float64()
		var n int64
		for prod > limit {
			n++
			prod *= rng.Float64()
		}
		return n
	default:
		return max(0, int64(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
}

// binomial draws the number of successes in n trials of probability p:
// exactly by skipping geometric gaps between successes when few are
// expected, by the normal approximation otherwise.
func binomial(rng *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(rng, n, 1-p)
	}
	mean := float64(n) * p
	if mean >= 30 {
		x := math.Round(mean + math.Sqrt(mean*(1-p))*rng.NormFloat64())
		return int64(min(max(x, 0), float64(n)))
	}
	// The gaps between successes are geometric.
	logQ := math.Log1p(-p)
	var successes int64
	left := float64(n)
	for {
		gap := math.Floor(math.Log(1-rng.Float64())/logQ) + 1
		if gap > left {
			return successes
		}
		left -= gap
		successes++
	}
}

// multinomial spreads n draws over the categories of mass (summing to 1),
// adding the counts to out, by a chain of conditional binomials.
func multinomial(rng *rand.Rand, n int64, mass []float64, out []int64) {
	left, rest := n, 1.0
	for i, m := range mass {
		if left <= 0 {
			return
		}
		if i == len(mass)-1 || rest <= m {
			out[i] += left
			return
		}
		k := binomial(rng, left, m/rest)
		out[i] += k
		left -= k
		rest -= m
	}
}
