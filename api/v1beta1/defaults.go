package v1beta1

import "k8s.io/apimachinery/pkg/util/intstr"

// The defaults of a Canary, as Flagger's.
const (
	// DefaultAnalysisInterval is the interval between steps.
	DefaultAnalysisInterval = "60s"
	// DefaultThreshold is the number of failed checks that rolls back.
	DefaultThreshold = 1
	// DefaultMaxWeight is the canary weight at which it is promoted.
	DefaultMaxWeight = 100
	// DefaultProgressDeadlineSeconds is how long a release may go without
	// progress.
	DefaultProgressDeadlineSeconds int32 = 600
	// DefaultMetricInterval is the span a metric is computed over.
	DefaultMetricInterval = "1m"
	// DefaultWebhookTimeout is the timeout of a webhook call.
	DefaultWebhookTimeout = "10s"
	// DefaultReadyThreshold is the percentage of ready pods that makes a
	// workload ready.
	DefaultReadyThreshold = 100
	// DefaultSessionAffinityMaxAge is the lifetime of the sticky-session
	// cookie in seconds.
	DefaultSessionAffinityMaxAge = 86400
	// DefaultJudgeAlpha is the false-rollback rate of the sequential judge.
	DefaultJudgeAlpha = 0.01
)

// Default fills the unset fields of c with their defaults. It modifies c;
// callers that must not change their copy call it on c.DeepCopy().
func (c *Canary) Default() {
	s := &c.Spec
	if s.Service.Name == "" {
		s.Service.Name = s.TargetRef.Name
	}
	if s.Service.TargetPort.IntValue() == 0 && s.Service.TargetPort.StrVal == "" {
		s.Service.TargetPort = intstr.FromInt32(s.Service.Port)
	}
	if s.ProgressDeadlineSeconds == nil {
		d := DefaultProgressDeadlineSeconds
		s.ProgressDeadlineSeconds = &d
	}
	if s.Analysis == nil {
		s.Analysis = &CanaryAnalysis{}
	}
	s.Analysis.Default()
}

// Defaulted returns a copy of the analysis with its defaults filled in; a
// nil analysis reads as an empty one. a is left as it is.
func (a *CanaryAnalysis) Defaulted() *CanaryAnalysis {
	d := a.DeepCopy()
	if d == nil {
		d = &CanaryAnalysis{}
	}
	d.Default()
	return d
}

// Default fills the unset fields of the analysis with their defaults.
func (a *CanaryAnalysis) Default() {
	if a.Interval == "" {
		a.Interval = DefaultAnalysisInterval
	}
	if a.Threshold == 0 {
		a.Threshold = DefaultThreshold
	}
	if a.MaxWeight == 0 {
		a.MaxWeight = DefaultMaxWeight
	}
	if a.PrimaryReadyThreshold == nil {
		t := DefaultReadyThreshold
		a.PrimaryReadyThreshold = &t
	}
	if a.CanaryReadyThreshold == nil {
		t := DefaultReadyThreshold
		a.CanaryReadyThreshold = &t
	}
	for i := range a.Metrics {
		if a.Metrics[i].Interval == "" {
			a.Metrics[i].Interval = DefaultMetricInterval
		}
	}
	for i := range a.Webhooks {
		if a.Webhooks[i].Type == "" {
			a.Webhooks[i].Type = RolloutHook
		}
		if a.Webhooks[i].Timeout == "" {
			a.Webhooks[i].Timeout = DefaultWebhookTimeout
		}
	}
	if a.SessionAffinity != nil && a.SessionAffinity.MaxAge == 0 {
		a.SessionAffinity.MaxAge = DefaultSessionAffinityMaxAge
	}
	if a.Judge != nil {
		if a.Judge.Type == "" {
			a.Judge.Type = JudgeThreshold
		}
		if a.Judge.Type == JudgeSequential && a.Judge.Alpha == nil {
			alpha := DefaultJudgeAlpha
			a.Judge.Alpha = &alpha
		}
	}
}
