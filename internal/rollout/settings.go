package rollout

import (
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
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

	strategy            v1beta1.Strategy // blue/green mirroring reads as blue/green with mirror set
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
	mutedHooks          map[string]bool // webhooks with muteAlert, by name
	judge               judge.Judge
	skipAnalysis        bool
	suspend             bool
	revertOnDeletion    bool
}

func settingsOf(c *v1beta1.Canary) settings {
	// Only the analysis needs its defaults applied: copy it alone rather
	// than the whole Canary with its metadata and status.
	a := c.Spec.Analysis.Defaulted()
	s := settings{
		target:              qualified(c.Spec.TargetRef.Name, c.Namespace),
		primary:             qualified(c.Spec.TargetRef.Name+"-primary", c.Namespace),
		strategy:            c.Strategy(),
		interval:            a.IntervalDuration(),
		deadline:            c.ProgressDeadline(),
		threshold:           a.EffectiveThreshold(),
		maxWeight:           clamp(a.EffectiveMaxWeight(), 1, 100),
		stepWeight:          a.StepWeight,
		stepWeights:         a.StepWeights,
		stepWeightPromotion: a.StepWeightPromotion,
		iterations:          a.Iterations,
		match:               a.Match,
		mirror:              a.Mirror,
		mirrorWeight:        a.MirrorWeight,
		primaryReady:        clamp(a.EffectivePrimaryReadyThreshold(), 0, 100),
		canaryReady:         clamp(a.EffectiveCanaryReadyThreshold(), 0, 100),
		sessionAffinity:     a.SessionAffinity,
		metrics:             a.Metrics,
		hooks:               map[v1beta1.HookType][]string{},
		judge:               judge.For(a),
		skipAnalysis:        c.Spec.SkipAnalysis,
		suspend:             c.Spec.Suspend,
		revertOnDeletion:    c.Spec.RevertOnDeletion,
	}
	if s.strategy == v1beta1.StrategyBlueGreenMirroring {
		s.strategy = v1beta1.StrategyBlueGreen
	}
	if s.stepWeight <= 0 {
		s.stepWeight = s.maxWeight
	}
	if e := a.EvaluationInterval(); e < s.interval {
		s.evalInterval = e
	}
	s.poll = min(s.interval, pollInterval)
	if s.mirror && s.mirrorWeight <= 0 {
		s.mirrorWeight = 100
	}
	for _, w := range a.Webhooks {
		t := w.EffectiveType()
		s.hooks[t] = append(s.hooks[t], w.Name)
		if w.MuteAlert {
			if s.mutedHooks == nil {
				s.mutedHooks = map[string]bool{}
			}
			s.mutedHooks[w.Name] = true
		}
	}
	return s
}

func qualified(name, namespace string) string {
	if namespace == "" {
		return name
	}
	return name + "." + namespace
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
