package v1beta1

import (
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefault(t *testing.T) {
	c := walkthroughCanary()
	c.Spec.Analysis.Interval = ""
	c.Spec.Analysis.Threshold = 0
	c.Spec.Analysis.MaxWeight = 0
	c.Spec.Analysis.Metrics[0].Interval = ""
	c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "load", URL: "http://loadtester.test/"}}
	c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "canary"}
	c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential}
	c.Default()

	s := c.Spec
	a := s.Analysis
	checks := []struct {
		name      string
		got, want any
	}{
		{"progressDeadlineSeconds", *s.ProgressDeadlineSeconds, int32(600)},
		{"service.name", s.Service.Name, "podinfo"},
		{"service.targetPort", s.Service.TargetPort, intstr.FromInt32(9898)},
		{"analysis.interval", a.Interval, "60s"},
		{"analysis.threshold", a.Threshold, 1},
		{"analysis.maxWeight", a.MaxWeight, 100},
		{"analysis.metrics[0].interval", a.Metrics[0].Interval, "1m"},
		{"analysis.metrics[1].interval (set)", a.Metrics[1].Interval, "1m"},
		{"analysis.webhooks[0].type", a.Webhooks[0].Type, RolloutHook},
		{"analysis.webhooks[0].timeout", a.Webhooks[0].Timeout, "10s"},
		{"analysis.sessionAffinity.maxAge", a.SessionAffinity.MaxAge, 86400},
		{"analysis.judge.alpha", *a.Judge.Alpha, 0.01},
		{"analysis.primaryReadyThreshold", *a.PrimaryReadyThreshold, 100},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	again := c.DeepCopy()
	again.Default()
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Default is not idempotent")
	}
}

func TestDefaultKeepsSetValues(t *testing.T) {
	c := walkthroughCanary()
	c.Spec.Service.Name = "apex"
	c.Spec.Service.TargetPort = intstr.FromString("http")
	c.Spec.ProgressDeadlineSeconds = ptr(int32(60))
	c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Alpha: ptr(0.05)}
	want := c.DeepCopy()
	c.Default()
	if c.Spec.Service.Name != "apex" || c.Spec.Service.TargetPort != intstr.FromString("http") ||
		*c.Spec.ProgressDeadlineSeconds != 60 || *c.Spec.Analysis.Judge.Alpha != 0.05 ||
		c.Spec.Analysis.Interval != want.Spec.Analysis.Interval || c.Spec.Analysis.Threshold != 5 {
		t.Errorf("Default overwrote set values: %+v", c.Spec)
	}
}

func TestAccessorsMatchDefault(t *testing.T) {
	// The accessors on an undefaulted Canary read what Default writes.
	c := walkthroughCanary()
	c.Spec.Analysis = &CanaryAnalysis{
		StepWeight: 10,
		Metrics:    []CanaryMetric{{Name: MetricRequestDuration}},
		Webhooks:   []CanaryWebhook{{Name: "w", URL: "http://x/"}},
		Judge:      &JudgeSpec{Type: JudgeSequential},
	}
	c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c"}
	d := c.DeepCopy()
	d.Default()

	pairs := []struct {
		name        string
		plain, dflt any
	}{
		{"ProgressDeadline", c.ProgressDeadline(), d.ProgressDeadline()},
		{"ServiceName", c.ServiceName(), d.Spec.Service.Name},
		{"EffectiveTargetPort", c.EffectiveTargetPort(), d.Spec.Service.TargetPort},
		{"IntervalDuration", c.Spec.Analysis.IntervalDuration(), d.Spec.Analysis.IntervalDuration()},
		{"EffectiveThreshold", c.Spec.Analysis.EffectiveThreshold(), d.Spec.Analysis.Threshold},
		{"EffectiveMaxWeight", c.Spec.Analysis.EffectiveMaxWeight(), d.Spec.Analysis.MaxWeight},
		{"EffectivePrimaryReadyThreshold", c.Spec.Analysis.EffectivePrimaryReadyThreshold(), *d.Spec.Analysis.PrimaryReadyThreshold},
		{"EffectiveCanaryReadyThreshold", c.Spec.Analysis.EffectiveCanaryReadyThreshold(), *d.Spec.Analysis.CanaryReadyThreshold},
		{"metric IntervalDuration", c.Spec.Analysis.Metrics[0].IntervalDuration(), d.Spec.Analysis.Metrics[0].IntervalDuration()},
		{"webhook EffectiveType", c.Spec.Analysis.Webhooks[0].EffectiveType(), d.Spec.Analysis.Webhooks[0].Type},
		{"webhook TimeoutDuration", c.Spec.Analysis.Webhooks[0].TimeoutDuration(), d.Spec.Analysis.Webhooks[0].TimeoutDuration()},
		{"session EffectiveMaxAge", c.Spec.Analysis.SessionAffinity.EffectiveMaxAge(), time.Duration(d.Spec.Analysis.SessionAffinity.MaxAge) * time.Second},
		{"judge EffectiveAlpha", c.Spec.Analysis.Judge.EffectiveAlpha(), *d.Spec.Analysis.Judge.Alpha},
	}
	for _, p := range pairs {
		if !reflect.DeepEqual(p.plain, p.dflt) {
			t.Errorf("%s: %v before Default, %v after", p.name, p.plain, p.dflt)
		}
	}
	if c.Spec.Analysis.Interval != "" || c.Spec.ProgressDeadlineSeconds != nil {
		t.Errorf("accessors modified the Canary")
	}
}

func TestAccessorValues(t *testing.T) {
	var nilAnalysis *CanaryAnalysis
	a := &CanaryAnalysis{Interval: "10s", StepWeights: []int{5, 20, 60}, MaxWeight: 100, Threshold: 5,
		Judge: &JudgeSpec{EvaluationInterval: "2s"}}
	checks := []struct {
		name      string
		got, want any
	}{
		{"nil IntervalDuration", nilAnalysis.IntervalDuration(), 60 * time.Second},
		{"nil EffectiveThreshold", nilAnalysis.EffectiveThreshold(), 1},
		{"nil EffectiveMaxWeight", nilAnalysis.EffectiveMaxWeight(), 100},
		{"nil EvaluationInterval", nilAnalysis.EvaluationInterval(), 60 * time.Second},
		{"IntervalDuration", a.IntervalDuration(), 10 * time.Second},
		{"EffectiveMaxWeight with stepWeights", a.EffectiveMaxWeight(), 60},
		{"EffectiveThreshold", a.EffectiveThreshold(), 5},
		{"EvaluationInterval", a.EvaluationInterval(), 2 * time.Second},
		{"unparsable interval reads as the default", (&CanaryAnalysis{Interval: "soon"}).IntervalDuration(), 60 * time.Second},
		{"nil judge type", (*JudgeSpec)(nil).EffectiveType(), JudgeThreshold},
		{"nil session max age", (*SessionAffinity)(nil).EffectiveMaxAge(), 24 * time.Hour},
		{"named target port", (&Canary{Spec: CanarySpec{Service: CanaryService{Port: 80, TargetPort: intstr.FromString("http")}}}).EffectiveTargetPort(), intstr.FromString("http")},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestStrategy(t *testing.T) {
	match := []HTTPMatchRequest{{Headers: map[string]StringMatch{"x-canary": {Exact: "1"}}}}
	tests := []struct {
		name     string
		analysis *CanaryAnalysis
		want     Strategy
	}{
		{"no analysis", nil, StrategyCanary},
		{"stepWeight", &CanaryAnalysis{StepWeight: 10}, StrategyCanary},
		{"stepWeights", &CanaryAnalysis{StepWeights: []int{10, 50}}, StrategyCanary},
		{"canary with mirroring", &CanaryAnalysis{StepWeight: 10, Mirror: true}, StrategyCanary},
		{"iterations", &CanaryAnalysis{Iterations: 10}, StrategyBlueGreen},
		{"iterations with mirror", &CanaryAnalysis{Iterations: 10, Mirror: true, MirrorWeight: 50}, StrategyBlueGreenMirroring},
		{"iterations with match", &CanaryAnalysis{Iterations: 10, Match: match}, StrategyABTesting},
		{"match without iterations", &CanaryAnalysis{Match: match, StepWeight: 10}, StrategyCanary},
	}
	for _, tt := range tests {
		c := &Canary{Spec: CanarySpec{Analysis: tt.analysis}}
		if got := c.Strategy(); got != tt.want {
			t.Errorf("%s: Strategy() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDefaultedLeavesTheAnalysisAlone(t *testing.T) {
	a := &CanaryAnalysis{StepWeight: 10}
	d := a.Defaulted()
	if a.Interval != "" || a.Threshold != 0 || a.MaxWeight != 0 {
		t.Errorf("Defaulted changed its receiver: %+v", a)
	}
	if d.Interval != DefaultAnalysisInterval || d.Threshold != DefaultThreshold || d.MaxWeight != DefaultMaxWeight || d.StepWeight != 10 {
		t.Errorf("Defaulted() = %+v, want the defaults and stepWeight 10", d)
	}
	var none *CanaryAnalysis
	if d := none.Defaulted(); d == nil || d.Interval != DefaultAnalysisInterval {
		t.Errorf("nil.Defaulted() = %+v, want an analysis of defaults", d)
	}
}

// TestEvaluationIntervalDefaults: the sequential judge looks every 2s
// unless told otherwise (never less often than the steps); the threshold
// judge at the steps.
func TestEvaluationIntervalDefaults(t *testing.T) {
	tests := []struct {
		name     string
		interval string
		judge    *JudgeSpec
		want     time.Duration
	}{
		{"threshold judge", "10s", nil, 10 * time.Second},
		{"sequential judge without evaluationInterval", "10s", &JudgeSpec{Type: JudgeSequential}, 2 * time.Second},
		{"sequential judge with steps under 2s", "1s", &JudgeSpec{Type: JudgeSequential}, time.Second},
		{"sequential judge with evaluationInterval", "10s", &JudgeSpec{Type: JudgeSequential, EvaluationInterval: "5s"}, 5 * time.Second},
		{"threshold judge with evaluationInterval", "10s", &JudgeSpec{EvaluationInterval: "3s"}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &CanaryAnalysis{Interval: tt.interval, Judge: tt.judge}
			if got := a.EvaluationInterval(); got != tt.want {
				t.Errorf("EvaluationInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}
