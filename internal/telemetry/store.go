package telemetry

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBoundsMs are Linkerd's response_latency_ms buckets; an implicit
// +Inf bucket follows the last one.
var latencyBoundsMs = [...]float64{
	1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
	1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
}

// numBuckets counts the finite bounds and the +Inf bucket.
const numBuckets = len(latencyBoundsMs) + 1

// maxStatus bounds the per-status-code counters; codes outside
// [100, maxStatus) are counted as status 0.
const maxStatus = 600

// LatencyBounds returns Linkerd's latency bucket bounds in milliseconds, the
// last one +Inf.
func LatencyBounds() []float64 {
	b := make([]float64, 0, numBuckets)
	b = append(b, latencyBoundsMs[:]...)
	return append(b, math.Inf(1))
}

// BackendKey names a backend the way Linkerd labels its metrics.
type BackendKey struct {
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment"`
}

// Option configures a Store.
type Option func(*Store)

// WithRetention sets how far back Stats can answer (one hour by default).
// The Store keeps one snapshot per second of it for each backend.
func WithRetention(d time.Duration) Option {
	return func(s *Store) {
		if sec := int(d / time.Second); sec > 0 {
			s.retention = sec
		}
	}
}

// Store holds the golden metrics of every backend.
type Store struct {
	retention int // seconds of snapshots kept per backend

	mu        sync.Mutex // serialises registration and snapshots
	recorders atomic.Pointer[map[BackendKey]*Recorder]
	latest    atomic.Int64 // unix second of the latest snapshot, 0 before the first
	first     atomic.Int64 // unix second of the first snapshot, 0 before it
}

// NewStore returns an empty Store. Call Run (or Snapshot once a second) so
// that Stats can answer for past windows.
func NewStore(opts ...Option) *Store {
	s := &Store{retention: 3600}
	for _, o := range opts {
		o(s)
	}
	m := map[BackendKey]*Recorder{}
	s.recorders.Store(&m)
	return s
}

// Recorder returns the Recorder of a backend, creating it on first use.
// It is safe for concurrent use; callers on a hot path keep the result.
func (s *Store) Recorder(k BackendKey) *Recorder {
	if r, ok := (*s.recorders.Load())[k]; ok {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.recorders.Load()
	if r, ok := old[k]; ok {
		return r
	}
	r := &Recorder{key: k, ring: make([]snapshot, s.retention+1), created: s.latest.Load()}
	m := make(map[BackendKey]*Recorder, len(old)+1)
	for kk, rr := range old {
		m[kk] = rr
	}
	m[k] = r
	s.recorders.Store(&m)
	return r
}

// Backends lists the backends that have a Recorder.
func (s *Store) Backends() []BackendKey {
	m := *s.recorders.Load()
	out := make([]BackendKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortKeys(out)
	return out
}

// Snapshot records the cumulative counters of every backend as of now,
// truncated to the second. Run calls it once a second; tests call it
// directly to move time.
func (s *Store) Snapshot(now time.Time) {
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range *s.recorders.Load() {
		r.snapshot(sec)
	}
	if sec > s.latest.Load() {
		s.latest.Store(sec)
	}
	if f := s.first.Load(); f == 0 || sec < f {
		s.first.Store(sec)
	}
}

// Run takes a snapshot every second until ctx is done.
func (s *Store) Run(ctx context.Context) {
	s.Snapshot(time.Now())
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Snapshot(now)
		}
	}
}

// Recorder counts the requests of one backend. Its methods are safe for
// concurrent use and do not allocate.
type Recorder struct {
	key BackendKey

	requests  atomic.Int64
	failures  atomic.Int64
	latencyUs atomic.Int64 // sum of latencies in microseconds
	reqBytes  atomic.Int64
	respBytes atomic.Int64
	buckets   [numBuckets]atomic.Int64 // per bucket, not cumulative
	status    [maxStatus]atomic.Int64  // per status code

	// Guarded by Store.mu.
	ring    []snapshot
	created int64 // unix second of the latest snapshot when created
}

type snapshot struct {
	sec      int64 // 0 when the slot was never written
	requests int64
	failures int64
	buckets  [numBuckets]int64
}

// Key returns the backend the Recorder counts for.
func (r *Recorder) Key() BackendKey { return r.key }

// Failure reports whether a response with this status counts as a failure:
// 5xx, or no status at all (a transport error), as Linkerd classifies.
func Failure(status int) bool { return status >= 500 || status < 100 }

// Record counts one completed request: its status code (the proxy answers
// 502 for transport errors and 504 for timeouts), its latency up to the
// response headers, and the body bytes in each direction.
func (r *Recorder) Record(status int, latency time.Duration, reqBytes, respBytes int64) {
	us := latency.Microseconds()
	i := 0
	for i < len(latencyBoundsMs) && float64(us) > latencyBoundsMs[i]*1000 {
		i++
	}
	r.buckets[i].Add(1)
	r.latencyUs.Add(us)
	if status < 100 || status >= maxStatus {
		status = 0
	}
	r.status[status].Add(1)
	if Failure(status) {
		r.failures.Add(1)
	}
	if reqBytes > 0 {
		r.reqBytes.Add(reqBytes)
	}
	if respBytes > 0 {
		r.respBytes.Add(respBytes)
	}
	r.requests.Add(1)
}

// Requests returns the number of requests recorded so far.
func (r *Recorder) Requests() int64 { return r.requests.Load() }

func (r *Recorder) live() snapshot {
	var s snapshot
	s.requests = r.requests.Load()
	s.failures = r.failures.Load()
	for i := range r.buckets {
		s.buckets[i] = r.buckets[i].Load()
	}
	return s
}

func (r *Recorder) snapshot(sec int64) {
	s := r.live()
	s.sec = sec
	r.ring[int(sec%int64(len(r.ring)))] = s
}
