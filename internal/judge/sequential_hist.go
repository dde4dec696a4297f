package judge

import (
	"math"
	"slices"
)

// histTotal is the number of requests a cumulative histogram holds: the
// count of its +Inf bucket, else requests.
func histTotal(h Histogram, requests int64) int64 {
	n := len(h.Bounds)
	if n > 0 && n == len(h.Counts) && math.IsInf(h.Bounds[n-1], 1) {
		return h.Counts[n-1]
	}
	return requests
}

// countAtMost is how many requests took at most bound ms: the count of the
// largest bucket bound not above it.
func countAtMost(h Histogram, bound float64) int64 {
	i, found := slices.BinarySearch(h.Bounds, bound)
	if !found {
		i--
	}
	if i < 0 || i >= len(h.Counts) {
		return 0
	}
	return h.Counts[i]
}

// boundAtLeast is the smallest bucket bound not below v, +Inf if none.
func boundAtLeast(h Histogram, v float64) float64 {
	i, _ := slices.BinarySearch(h.Bounds, v)
	if i >= len(h.Bounds) {
		return math.Inf(1)
	}
	return h.Bounds[i]
}

// bucketAbove is the upper bound of the bucket holding the q quantile of a
// histogram of total requests; the largest finite bound when the quantile
// lies in the +Inf bucket.
func bucketAbove(q float64, h Histogram, total int64) float64 {
	rank := int64(math.Ceil(q * float64(total)))
	lastFinite := 0.0
	for i, b := range h.Bounds {
		if math.IsInf(b, 1) {
			break
		}
		lastFinite = b
		if i < len(h.Counts) && h.Counts[i] >= rank {
			return b
		}
	}
	return lastFinite
}

// histQuantile estimates the q quantile of a cumulative histogram by linear
// interpolation within its bucket, as Prometheus's histogram_quantile does.
func histQuantile(q float64, h Histogram, total int64) float64 {
	if total <= 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var lower float64
	var below int64
	for i, b := range h.Bounds {
		if i >= len(h.Counts) {
			break
		}
		c := h.Counts[i]
		if float64(c) >= rank {
			if math.IsInf(b, 1) {
				return lower
			}
			inBucket := c - below
			if inBucket <= 0 {
				return b
			}
			return lower + (b-lower)*(rank-float64(below))/float64(inBucket)
		}
		lower, below = b, c
	}
	return lower
}

// HistogramQuantile estimates the q quantile (0..1) of a cumulative
// histogram in the way of Prometheus's histogram_quantile; NaN when it is
// empty.
func HistogramQuantile(q float64, h Histogram) float64 {
	n := len(h.Counts)
	if n == 0 {
		return math.NaN()
	}
	return histQuantile(q, h, h.Counts[n-1])
}

// pooled adds two histograms with the same bounds.
func pooled(a, b Histogram) Histogram {
	h := Histogram{Bounds: a.Bounds, Counts: make([]int64, len(a.Counts))}
	for i := range h.Counts {
		h.Counts[i] = a.Counts[i]
		if i < len(b.Counts) {
			h.Counts[i] += b.Counts[i]
		}
	}
	return h
}
