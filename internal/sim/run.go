package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/rollout"
)

// Outcome is how a simulated release ended.
type Outcome string

// The outcomes.
const (
	Promoted   Outcome = "promoted"
	RolledBack Outcome = "rolled-back"
	// Undecided: neither within the time limit.
	Undecided Outcome = "undecided"
)

// Config is one simulation: a Canary, the traffic it gets and the judge that
// decides.
type Config struct {
	// Canary is the release's spec; its analysis.judge is replaced by the
	// one Judge names.
	Canary *v1beta1.Canary
	// Scenario is the traffic and the behaviour of both versions.
	Scenario Scenario
	// Judge is judge.TypeThreshold (Flagger's) or judge.TypeSequential.
	Judge string
	// Alpha of the sequential judge; 0 keeps the Canary's or the default.
	Alpha float64
	// EvaluationInterval of the sequential judge; 0 keeps the Canary's, or
	// DefaultEvaluationInterval when it has none.
	EvaluationInterval time.Duration
	// Limit is how much simulated time after the release a run may take;
	// 0 means DefaultLimit.
	Limit time.Duration
	// PrimaryHistory is how long the primary serves all the traffic before
	// the Canary is initialized, the history a metrics source keeps of it
	// (the judges see up to judge.BaselineSpan of it); 0 means
	// DefaultPrimaryHistory and a negative duration none.
	PrimaryHistory time.Duration
}

// Defaults of a Config.
const (
	DefaultEvaluationInterval = 2 * time.Second
	DefaultLimit              = 2 * time.Hour
	DefaultPrimaryHistory     = judge.BaselineSpan
)

// origin is the simulated wall-clock time of time zero; any fixed time
// does, the simulation never reads the clock.
func origin() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

// maxTicks bounds the ticks of one run, whatever the Canary's requeues.
const maxTicks = 100000

// Result is the outcome of one simulated release, counted from the moment
// the new revision appeared (set image).
type Result struct {
	Outcome Outcome
	// TimeToDecision is the simulated time until the release Succeeded or
	// Failed.
	TimeToDecision time.Duration
	// CanaryRequests is how many requests the canary served.
	CanaryRequests int64
	// FailedRequests is how many of them failed: the failures users saw
	// because of the release.
	FailedRequests int64
}

// canaryFor returns a copy of the Canary set up for cfg's judge.
func canaryFor(cfg Config) (*v1beta1.Canary, error) {
	if cfg.Canary == nil {
		return nil, errors.New("no canary to simulate")
	}
	c := cfg.Canary.DeepCopy()
	c.Status = v1beta1.CanaryStatus{}
	if c.Spec.Analysis == nil {
		c.Spec.Analysis = &v1beta1.CanaryAnalysis{}
	}
	a := c.Spec.Analysis
	if len(a.Metrics) == 0 {
		return nil, errors.New("spec.analysis.metrics: the simulation needs at least one metric to judge")
	}
	for i, m := range a.Metrics {
		if m.Name != judge.RequestSuccessRate && m.Name != judge.RequestDuration {
			return nil, fmt.Errorf("spec.analysis.metrics[%d].name: the simulation models only %s and %s, got %q",
				i, judge.RequestSuccessRate, judge.RequestDuration, m.Name)
		}
	}
	switch cfg.Judge {
	case judge.TypeThreshold:
		a.Judge = nil
	case judge.TypeSequential:
		js := &v1beta1.JudgeSpec{Type: judge.TypeSequential}
		if a.Judge != nil && a.Judge.Type == judge.TypeSequential {
			js = a.Judge.DeepCopy()
		}
		if cfg.Alpha > 0 {
			js.Alpha = &cfg.Alpha
		}
		switch {
		case cfg.EvaluationInterval > 0:
			js.EvaluationInterval = cfg.EvaluationInterval.String()
		case js.EvaluationInterval == "":
			js.EvaluationInterval = DefaultEvaluationInterval.String()
		}
		a.Judge = js
	default:
		return nil, fmt.Errorf("judge: must be %q or %q, got %q", judge.TypeThreshold, judge.TypeSequential, cfg.Judge)
	}
	return c, nil
}

// Run simulates one release with the random numbers of seed. It drives
// rollout.Plan and rollout.Step as the engine does, with workloads that are
// always ready and webhooks that always pass, on a virtual clock that jumps
// from tick to tick.
func Run(cfg Config, seed uint64) (Result, error) {
	c, err := canaryFor(cfg)
	if err != nil {
		return Result{}, err
	}
	if err := cfg.Scenario.Validate(); err != nil {
		return Result{}, err
	}
	r := &runner{
		c:       c,
		traffic: NewTraffic(cfg.Scenario, rand.New(rand.NewPCG(seed, 0x5e41))),
		ws: rollout.WorkloadState{
			TargetFound: true, TargetRevision: "rev-1",
			Target: readiness(1),
		},
	}
	// The primary's history: it has served all the traffic for a while.
	history := cfg.PrimaryHistory
	if history == 0 {
		history = DefaultPrimaryHistory
	}
	if history > 0 {
		r.traffic.Advance(history, 0)
	}
	// Initialize: the primary takes over from the target.
	for c.Status.Phase != v1beta1.PhaseInitialized {
		if r.ticks > 1000 {
			return Result{}, fmt.Errorf("canary not initialized after %d ticks: phase %q: %s", r.ticks, c.Status.Phase, c.Status.Message)
		}
		if err := r.tick(); err != nil {
			return Result{}, err
		}
	}
	// Set image: a new revision appears and, as a watch on the target would,
	// starts a tick at once. The workload is always ready: a scale-up takes
	// no time.
	r.traffic.Release()
	release := r.traffic.Now()
	r.ws.TargetRevision = "rev-2"
	limit := cfg.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	res := Result{Outcome: Undecided}
	for r.traffic.Now()-release <= limit {
		before := r.c.Status.Phase
		if err := r.tick(); err != nil {
			return Result{}, err
		}
		if before == r.c.Status.Phase {
			continue
		}
		switch r.c.Status.Phase {
		case v1beta1.PhaseSucceeded:
			res.Outcome = Promoted
		case v1beta1.PhaseFailed:
			res.Outcome = RolledBack
		default:
			continue
		}
		res.TimeToDecision = r.decidedAt - release
		break
	}
	if res.Outcome == Undecided {
		res.TimeToDecision = r.traffic.Now() - release
	}
	_, canary := r.traffic.Served(release)
	res.CanaryRequests, res.FailedRequests = canary.Requests, canary.Failures
	return res, nil
}

// runner is the shell around the rollout core in one simulated run.
type runner struct {
	c         *v1beta1.Canary
	traffic   *Traffic
	ws        rollout.WorkloadState
	weight    int
	ticks     int
	decidedAt time.Duration
}

func readiness(n int32) rollout.Readiness {
	return rollout.Readiness{Desired: n, Updated: n, Ready: n}
}

// tick plans, observes, steps, carries out the actions and lets traffic
// flow until the next tick.
func (r *runner) tick() error {
	r.ticks++
	if r.ticks > maxTicks {
		return fmt.Errorf("more than %d ticks: phase %q: %s", maxTicks, r.c.Status.Phase, r.c.Status.Message)
	}
	now := origin().Add(r.traffic.Now())
	needs := rollout.Plan(r.c, r.ws, rollout.NoCommand, false, now)
	obs := rollout.Observed{Workload: r.ws}
	if needs.Metrics {
		since := needs.MetricsSince.Sub(origin())
		for _, m := range r.c.Spec.Analysis.Metrics {
			o, err := r.traffic.Observe(m, since)
			if err != nil {
				return err
			}
			obs.Metrics = append(obs.Metrics, o)
		}
	}
	for _, t := range needs.Hooks {
		for _, w := range r.c.Spec.Analysis.Webhooks {
			if w.Type == t {
				obs.Hooks = append(obs.Hooks, rollout.HookResult{Name: w.Name, Type: t, OK: true, Message: "200 OK"})
			}
		}
	}
	d := rollout.Step(rollout.Input{Canary: r.c, Observed: obs, Now: now})
	for _, a := range d.Actions {
		switch a.Type {
		case rollout.InitPrimary:
			r.ws.PrimaryFound = true
			r.ws.Primary = readiness(1)
		case rollout.PromotePrimary:
			r.traffic.Promote()
		case rollout.SetRoutes:
			if a.Routes != nil {
				r.weight = a.Routes.CanaryWeight
			}
		}
	}
	r.c.Status = d.Status
	r.decidedAt = r.traffic.Now()
	wait := d.RequeueAfter
	if wait <= 0 {
		wait = time.Second
	}
	r.traffic.Advance(wait, r.weight)
	return nil
}

// Summary aggregates many runs of one Config.
type Summary struct {
	Judge      string  `json:"judge"`
	Runs       int     `json:"runs"`
	Promoted   float64 `json:"promoted"`    // share of runs
	RolledBack float64 `json:"rolled_back"` // share of runs
	// Times in seconds of simulated time, over the runs that decided.
	TimeToDecisionP50 float64 `json:"time_to_decision_p50_s"`
	TimeToDecisionP95 float64 `json:"time_to_decision_p95_s"`
	CanaryRequestsP50 float64 `json:"canary_requests_p50"`
	FailedRequestsP50 float64 `json:"failed_requests_p50"`
	FailedRequestsP95 float64 `json:"failed_requests_p95"`
}

// RunMany simulates runs releases, run i with the random numbers of
// (seed, i), on up to workers goroutines (0: one per CPU). The results are
// the same whatever the number of workers.
func RunMany(ctx context.Context, cfg Config, runs int, seed uint64, workers int) (Summary, []Result, error) {
	if runs < 1 {
		return Summary{}, nil, fmt.Errorf("runs: must be at least 1, got %d", runs)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]Result, runs)
	errs := make([]error, runs)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, runs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = Run(cfg, runSeed(seed, i))
			}
		}()
	}
feed:
	for i := range runs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Summary{}, nil, err
	}
	for i, err := range errs {
		if err != nil {
			return Summary{}, nil, fmt.Errorf("run %d: %w", i, err)
		}
	}
	return Summarize(cfg.Judge, results), results, nil
}

// runSeed derives the seed of run i, so that each run's random numbers are
// independent of the others and of the order they are run in.
func runSeed(seed uint64, i int) uint64 {
	return rand.New(rand.NewPCG(seed, uint64(i))).Uint64()
}

// Summarize aggregates the results of many runs.
func Summarize(judgeType string, results []Result) Summary {
	s := Summary{Judge: judgeType, Runs: len(results)}
	if len(results) == 0 {
		return s
	}
	var times, canary, failed []float64
	for _, r := range results {
		switch r.Outcome {
		case Promoted:
			s.Promoted++
		case RolledBack:
			s.RolledBack++
		}
		if r.Outcome != Undecided {
			times = append(times, r.TimeToDecision.Seconds())
		}
		canary = append(canary, float64(r.CanaryRequests))
		failed = append(failed, float64(r.FailedRequests))
	}
	n := float64(len(results))
	s.Promoted /= n
	s.RolledBack /= n
	s.TimeToDecisionP50, s.TimeToDecisionP95 = quantile(times, 0.5), quantile(times, 0.95)
	s.CanaryRequestsP50 = quantile(canary, 0.5)
	s.FailedRequestsP50, s.FailedRequestsP95 = quantile(failed, 0.5), quantile(failed, 0.95)
	return s
}

// quantile is the q quantile of v by the nearest rank; 0 when v is empty.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	i := int(q*float64(len(v))+0.999999) - 1
	return v[min(max(i, 0), len(v)-1)]
}
