package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/local"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// History is a Canary's recent past: the answer of
// /api/canaries/{ns}/{name}/history.
type History struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Points are samples of the Canary's status, oldest first.
	Points []Point `json:"points"`
	// Thresholds are the bounds of each metric as the Canary's spec sets
	// them now.
	Thresholds []Threshold `json:"thresholds"`
	// Decisions are the Canary's events and the commands given through the
	// dashboard, oldest first.
	Decisions []Decision `json:"decisions"`
}

// Point is one sample of a Canary's status.
type Point struct {
	// T is the time in Unix milliseconds.
	T      int64  `json:"t"`
	Weight int    `json:"w"`
	Phase  string `json:"phase"`
	Paused bool   `json:"paused,omitempty"`
	// Metrics maps a metric's name to its last value on the canary and on
	// the primary, as the analysis last measured them, each null when
	// unknown.
	Metrics map[string][2]*float64 `json:"m,omitempty"`
	// Golden are the golden metrics of the canary and primary Deployments
	// over the last 30s: success rate of the canary and of the primary (%),
	// then their p99 latency (ms), each null without traffic.
	Golden *[4]*float64 `json:"g,omitempty"`
}

// goldenWindow is the window of the golden metrics of each Point.
const goldenWindow = 30 * time.Second

// Threshold is the range a metric must stay within.
type Threshold struct {
	Metric string   `json:"metric"`
	Unit   string   `json:"unit,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Limits of what the recorder keeps of each Canary.
const (
	historyPoints    = 1000
	historyDecisions = 200
	historyAge       = 2 * time.Hour
)

// recorder samples the Source's Canaries at a modest rate and on each of
// their events, and keeps a bounded history of each.
type recorder struct {
	src   Source
	now   func() time.Time
	every time.Duration

	mu     sync.Mutex
	series map[string]*series // namespace/name
	kick   chan struct{}
}

type series struct {
	points     []Point
	decisions  []Decision
	thresholds []Threshold
}

func newRecorder(src Source, now func() time.Time, every time.Duration) *recorder {
	return &recorder{src: src, now: now, every: every, series: map[string]*series{}, kick: make(chan struct{}, 1)}
}

// run samples until ctx ends.
func (r *recorder) run(ctx context.Context) {
	go r.watchEvents(ctx)
	t := time.NewTicker(r.every)
	defer t.Stop()
	var last time.Time
	for {
		r.sample(ctx)
		last = r.now()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
			// Events come in bursts: sample at most once a second.
			if wait := time.Second - r.now().Sub(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

func (r *recorder) sample(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, r.every)
	defer cancel()
	snap, err := r.src.Snapshot(sctx)
	if err != nil {
		return // the runtime is not there (yet); try again next time
	}
	stats, _ := r.src.Stats(sctx, goldenWindow) // without them the points have the analysis' values only
	r.record(snap, stats, r.now())
}

// record adds a point for each Canary of snap and forgets Canaries that
// are gone.
func (r *recorder) record(snap local.Snapshot, stats []local.DeploymentStat, now time.Time) {
	golden := make(map[string]*local.DeploymentStat, len(stats))
	for i := range stats {
		if stats[i].HasTraffic {
			golden[stats[i].Namespace+"/"+stats[i].Name] = &stats[i]
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(snap.Canaries))
	for i := range snap.Canaries {
		c := &snap.Canaries[i]
		k := c.Namespace + "/" + c.Name
		seen[k] = true
		s := r.series[k]
		if s == nil {
			s = &series{}
			r.series[k] = s
		}
		p := Point{T: now.UnixMilli(), Weight: c.Status.CanaryWeight, Phase: string(c.Status.Phase), Paused: paused(c)}
		if p.Phase == "" {
			p.Phase = string(v1beta1.PhaseInitializing)
		}
		for _, m := range c.Status.Metrics {
			if p.Metrics == nil {
				p.Metrics = make(map[string][2]*float64, len(c.Status.Metrics))
			}
			p.Metrics[m.Name] = [2]*float64{finite(m.Value), finite(m.Primary)}
		}
		cs, ps := golden[c.Namespace+"/"+c.Spec.TargetRef.Name], golden[c.Namespace+"/"+wlocal.PrimaryName(c)]
		if cs != nil || ps != nil {
			var g [4]*float64
			if cs != nil {
				g[0], g[2] = ptr(cs.Stats.SuccessRate), ptr(cs.Stats.P99)
			}
			if ps != nil {
				g[1], g[3] = ptr(ps.Stats.SuccessRate), ptr(ps.Stats.P99)
			}
			p.Golden = &g
		}
		s.points = append(s.points, p)
		cut := 0
		for cut < len(s.points) && (len(s.points)-cut > historyPoints || now.Sub(time.UnixMilli(s.points[cut].T)) > historyAge) {
			cut++
		}
		if cut > 0 {
			s.points = append(s.points[:0:0], s.points[cut:]...)
		}
		s.thresholds = thresholds(c.Spec.Analysis)
	}
	for k := range r.series {
		if !seen[k] {
			delete(r.series, k)
		}
	}
}

// watchEvents records each Canary event as a decision and has the
// recorder sample soon after it.
func (r *recorder) watchEvents(ctx context.Context) {
	var since int64
	for ctx.Err() == nil {
		// It returns when the runtime stops or is not there (yet).
		_ = r.src.Events(ctx, since, true, func(e local.Event) error {
			if e.Seq < since { // the runtime started afresh
				since = 0
			}
			since = max(since, e.Seq)
			if e.Kind != "Canary" {
				return nil
			}
			r.decide(e.Namespace, e.Name, Decision{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count})
			select {
			case r.kick <- struct{}{}:
			default:
			}
			return nil
		})
		select { // look again later
		case <-ctx.Done():
		case <-time.After(r.every):
		}
	}
}

// decide records a decision of the Canary ns/name; a repeat of its last
// one is counted, not recorded again.
func (r *recorder) decide(ns, name string, d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := ns + "/" + name
	s := r.series[k]
	if s == nil {
		s = &series{}
		r.series[k] = s
	}
	if n := len(s.decisions); n > 0 {
		last := &s.decisions[n-1]
		if last.Reason == d.Reason && last.Message == d.Message && last.Type == d.Type {
			last.Count = max(last.Count+1, d.Count)
			return
		}
	}
	if d.Count == 0 {
		d.Count = 1
	}
	s.decisions = append(s.decisions, d)
	if len(s.decisions) > historyDecisions {
		s.decisions = append(s.decisions[:0:0], s.decisions[len(s.decisions)-historyDecisions:]...)
	}
}

// history returns a copy of the history of ns/name.
func (r *recorder) history(ns, name string) (History, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.series[ns+"/"+name]
	if !ok {
		return History{}, false
	}
	h := History{
		Namespace: ns, Name: name,
		Points:     append([]Point{}, s.points...),
		Thresholds: append([]Threshold{}, s.thresholds...),
		Decisions:  append([]Decision{}, s.decisions...),
	}
	return h, true
}

func thresholds(a *v1beta1.CanaryAnalysis) []Threshold {
	if a == nil {
		return nil
	}
	out := make([]Threshold, 0, len(a.Metrics))
	for _, m := range a.Metrics {
		lo, hi := judge.Bounds(m)
		out = append(out, Threshold{Metric: m.Name, Unit: metricUnit(m.Name), Min: lo, Max: hi})
	}
	return out
}
