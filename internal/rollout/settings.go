package rollout

import (
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// Strategy is how a release moves traffic.
type Strategy string

// The strategies. The analysis's fields choose one, as in Flagger.
const (
	// CanaryStrategy moves traffic to the canary in weighted steps.
	CanaryStrategy Strategy = "canary"
	// ABTestingStrategy sends matching requests to the canary for a number
	// of iterations (analysis.match with analysis.iterations).
	ABTestingStrategy Strategy = "ab-testing"
	// BlueGreenStrategy keeps traffic on the primary (optionally mirrored to
	// the canary) for a number of iterations, then switches.
	BlueGreenStrategy Strategy = "blue-green"
)

// PausedCondition is set on a Canary paused by the pause command and
// removed by resume.
const PausedCondition v1beta1.CanaryConditionType = "Paused"

// pollInterval bounds how long Step waits before looking again at something
// that is about to change: pods becoming ready, traffic arriving.
const pollInterval = 5 * time.Second

// settings are the effective values of a Canary's spec, defaults applied.
type settings struct {
	target, primary string // "podinfo.test", "podinfo-primary.test"

	strategy            Strategy
	interval            time.Duration
	evalInterval        time.Duration // 0: metrics are evaluated at steps only
	poll                time.Duration
	deadline            time.Duration
	threshold           int
	maxWeight           int
	stepWeight          int
	stepWeights         []int
	stepWeightPromotion int
	iterations          int
	match               []v1beta1.HTTPMatchRequest
	mirror              bool
	mirrorWeight        int
	primaryReady        int // percent
	canaryReady         int // percent
	sessionAffinity     *v1beta1.SessionAffinity
	metrics             []v1beta1.CanaryMetric
	hooks               map[v1beta1.HookType][]string
	judge               judge.Judge
	failFast            bool // a Fail verdict rolls back at once
	skipAnalysis        bool
	suspend             bool
	revertOnDeletion    bool
}

// StrategyOf returns the strategy an analysis asks for.
func StrategyOf(a *v1beta1.CanaryAnalysis) Strategy {
	switch {
	case a == nil || a.Iterations == 0:
		return CanaryStrategy
	case len(a.Match) > 0:
		return ABTestingStrategy
	default:
		return BlueGreenStrategy
	}
}

func settingsOf(in *v1beta1.Canary) settings {
	c := in.DeepCopy()
	c.Default()
	a := c.Spec.Analysis
	s := settings{
		target:              qualified(c.Spec.TargetRef.Name, c.Namespace),
		primary:             qualified(c.Spec.TargetRef.Name+"-primary", c.Namespace),
		strategy:            StrategyOf(a),
		interval:            duration(a.Interval, time.Minute),
		deadline:            time.Duration(*c.Spec.ProgressDeadlineSeconds) * time.Second,
		threshold:           a.Threshold,
		maxWeight:           clamp(a.MaxWeight, 1, 100),
		stepWeight:          a.StepWeight,
		stepWeights:         a.StepWeights,
		stepWeightPromotion: a.StepWeightPromotion,
		iterations:          a.Iterations,
		match:               a.Match,
		mirror:              a.Mirror,
		mirrorWeight:        a.MirrorWeight,
		primaryReady:        clamp(*a.PrimaryReadyThreshold, 0, 100),
		canaryReady:         clamp(*a.CanaryReadyThreshold, 0, 100),
		sessionAffinity:     a.SessionAffinity,
		metrics:             a.Metrics,
		hooks:               map[v1beta1.HookType][]string{},
		judge:               judge.For(a),
		failFast:            judge.TypeOf(a) == judge.TypeSequential,
		skipAnalysis:        c.Spec.SkipAnalysis,
		suspend:             c.Spec.Suspend,
		revertOnDeletion:    c.Spec.RevertOnDeletion,
	}
	if len(s.stepWeights) > 0 {
		s.maxWeight = clamp(s.stepWeights[len(s.stepWeights)-1], 1, 100)
	}
	if s.stepWeight <= 0 {
		s.stepWeight = s.maxWeight
	}
	if s.threshold < 1 {
		s.threshold = 1
	}
	if s.deadline <= 0 {
		s.deadline = time.Duration(v1beta1.DefaultProgressDeadlineSeconds) * time.Second
	}
	if a.Judge != nil && a.Judge.EvaluationInterval != "" {
		if d := duration(a.Judge.EvaluationInterval, 0); d < s.interval {
			s.evalInterval = d
		}
	}
	s.poll = min(s.interval, pollInterval)
	if s.mirror && s.mirrorWeight <= 0 {
		s.mirrorWeight = 100
	}
	for _, w := range a.Webhooks {
		s.hooks[w.Type] = append(s.hooks[w.Type], w.Name)
	}
	return s
}

func qualified(name, namespace string) string {
	if namespace == "" {
		return name
	}
	return name + "." + namespace
}

// duration parses d, falling back to def when it is empty, unparsable or
// not positive (validation reports those; Step must not fail on them).
func duration(d string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(d)
	if err != nil || v <= 0 {
		return def
	}
	return v
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// nextWeight is the canary weight after the one at w.
func (s *settings) nextWeight(w int) int {
	if len(s.stepWeights) > 0 {
		for _, sw := range s.stepWeights {
			if sw > w {
				return clamp(sw, 0, s.maxWeight)
			}
		}
		return s.maxWeight
	}
	return min(w+s.stepWeight, s.maxWeight)
}
