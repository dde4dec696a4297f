package telemetry

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Stats are the golden metrics of one backend over a window.
type Stats struct {
	Requests int64 `json:"requests"`
	Failures int64 `json:"failures"`
	// SuccessRate in percent; NaN when Requests is 0.
	SuccessRate float64 `json:"successRate"`
	RPS         float64 `json:"rps"`
	// P50, P95 and P99 in milliseconds, estimated from the histogram as
	// Prometheus' histogram_quantile does; NaN when Requests is 0.
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// Bounds are Linkerd's buckets in milliseconds, the last +Inf; Buckets
	// the cumulative count of requests at or under each bound.
	Bounds  []float64 `json:"-"`
	Buckets []int64   `json:"buckets"`
}

// Stats returns the golden metrics of the backend (namespace, deployment)
// for requests completed in [from, to), at one second resolution. A window
// reaching past the latest snapshot counts up to the live counters; one
// starting before the retention starts at the oldest snapshot kept. Before
// the first snapshot, every window holds everything recorded so far. An
// unknown backend has no requests. RPS is over the part of the window since
// the backend was first seen.
func (s *Store) Stats(namespace, deployment string, from, to time.Time) Stats {
	st := Stats{Bounds: LatencyBounds(), Buckets: make([]int64, numBuckets)}
	r, ok := (*s.recorders.Load())[BackendKey{Namespace: namespace, Deployment: deployment}]
	if ok && to.After(from) {
		s.mu.Lock()
		var a, b snapshot
		if latest := s.latest.Load(); latest == 0 {
			// No snapshot yet: the window holds everything so far.
			b = r.live()
		} else {
			a, b = r.at(from.Unix(), latest, false), r.at(to.Unix(), latest, true)
		}
		s.mu.Unlock()
		st.Requests = b.requests - a.requests
		st.Failures = b.failures - a.failures
		var cum int64
		for i := range st.Buckets {
			cum += b.buckets[i] - a.buckets[i]
			st.Buckets[i] = cum
		}
		// A backend seen for less than the window has had less time to
		// serve: its rate is over the time it has been seen.
		seen := r.created
		if seen == 0 {
			seen = s.first.Load()
		}
		span := to.Sub(from)
		if seen > 0 {
			span = min(span, to.Sub(time.Unix(seen, 0)))
		}
		st.RPS = float64(st.Requests) / max(span, time.Second).Seconds()
	}
	if st.Requests <= 0 {
		st.Requests, st.Failures = 0, 0
		st.SuccessRate, st.P50, st.P95, st.P99 = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return st
	}
	st.SuccessRate = 100 * float64(st.Requests-st.Failures) / float64(st.Requests)
	st.P50 = Quantile(0.50, st.Bounds, st.Buckets)
	st.P95 = Quantile(0.95, st.Bounds, st.Buckets)
	st.P99 = Quantile(0.99, st.Bounds, st.Buckets)
	return st
}

// at returns the counters as of the start of second sec; the end of a
// window in the latest snapshot's second or later reads the live counters.
// Caller holds Store.mu.
func (r *Recorder) at(sec, latest int64, end bool) snapshot {
	if sec > latest || (end && sec == latest) {
		return r.live()
	}
	n := int64(len(r.ring))
	if oldest := latest - n + 1; sec < oldest {
		sec = oldest
	}
	if sec <= r.created {
		return snapshot{} // the counters started at zero
	}
	// Seconds the snapshot loop missed fall back to the one before.
	for t := sec; t > r.created && t > latest-n; t-- {
		if s := r.ring[t%n]; s.sec == t {
			return s
		}
	}
	return snapshot{}
}

// Quantile estimates the q-quantile (0 <= q <= 1) of a cumulative histogram
// the way Prometheus' histogram_quantile does: linear interpolation inside
// the bucket holding the rank, the lowest bucket starting at 0, and the
// highest finite bound when the rank falls in the +Inf bucket. It returns
// NaN for an empty histogram.
func Quantile(q float64, bounds []float64, cumulative []int64) float64 {
	if len(cumulative) == 0 || len(bounds) != len(cumulative) {
		return math.NaN()
	}
	total := cumulative[len(cumulative)-1]
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	i, _ := slices.BinarySearchFunc(cumulative, rank, func(c int64, r float64) int {
		if float64(c) < r {
			return -1
		}
		return 1
	})
	if i >= len(bounds) {
		i = len(bounds) - 1
	}
	if math.IsInf(bounds[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return bounds[i-1]
	}
	lower, below := 0.0, int64(0)
	if i > 0 {
		lower, below = bounds[i-1], cumulative[i-1]
	}
	inBucket := cumulative[i] - below
	if inBucket == 0 {
		return bounds[i]
	}
	return lower + (bounds[i]-lower)*(rank-float64(below))/float64(inBucket)
}

func sortKeys(keys []BackendKey) {
	slices.SortFunc(keys, func(a, b BackendKey) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Deployment, b.Deployment)
	})
}
