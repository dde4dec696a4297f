package v1beta1

import (
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Strategy is the kind of release a Canary's analysis describes.
type Strategy string

// The strategies, told apart by the analysis fields as in Flagger.
const (
	// StrategyCanary moves traffic to the canary step by step
	// (stepWeight or stepWeights, up to maxWeight).
	StrategyCanary Strategy = "Canary"
	// StrategyABTesting sends the requests that match analysis.match to the
	// canary for analysis.iterations intervals.
	StrategyABTesting Strategy = "ABTesting"
	// StrategyBlueGreen runs analysis.iterations intervals with the canary
	// reachable only through its own Service, then switches all traffic.
	StrategyBlueGreen Strategy = "BlueGreen"
	// StrategyBlueGreenMirroring is blue/green with a copy of the primary's
	// traffic mirrored to the canary.
	StrategyBlueGreenMirroring Strategy = "BlueGreenMirroring"
)

// The judge types.
const (
	// JudgeThreshold is Flagger's judge: each metric against its own
	// thresholdRange, on the canary alone.
	JudgeThreshold = "threshold"
	// JudgeSequential compares the canary against the primary with an
	// always-valid sequential test.
	JudgeSequential = "sequential"
)

// The built-in metrics, computed from the router's golden metrics without a
// MetricTemplate.
const (
	// MetricRequestSuccessRate is the percentage of requests that did not
	// fail (5xx, transport errors and timeouts fail).
	MetricRequestSuccessRate = "request-success-rate"
	// MetricRequestDuration is the 99th percentile of request latency in
	// milliseconds.
	MetricRequestDuration = "request-duration"
)

// IsBuiltinMetric reports whether name is a built-in metric.
func IsBuiltinMetric(name string) bool {
	return name == MetricRequestSuccessRate || name == MetricRequestDuration
}

// Strategy returns the release strategy of c: match with iterations is A/B
// testing, iterations alone is blue/green (with mirror, blue/green
// mirroring), anything else is a canary release.
func (c *Canary) Strategy() Strategy {
	a := c.Spec.Analysis
	switch {
	case a == nil || a.Iterations <= 0:
		return StrategyCanary
	case len(a.Match) > 0:
		return StrategyABTesting
	case a.Mirror:
		return StrategyBlueGreenMirroring
	default:
		return StrategyBlueGreen
	}
}

// The accessors below return the value serin uses for a field: the field if
// it is set, its default otherwise. They never modify the object and accept
// a nil receiver where the field is optional, so code that reads a Canary
// needs no prior call to Default. Values that do not parse (which Validate
// reports) read as the default.

// ProgressDeadline is how long the release may go without progress.
func (c *Canary) ProgressDeadline() time.Duration {
	if p := c.Spec.ProgressDeadlineSeconds; p != nil && *p > 0 {
		return time.Duration(*p) * time.Second
	}
	return time.Duration(DefaultProgressDeadlineSeconds) * time.Second
}

// ServiceName is the name of the apex Service: service.name, or the
// target's name.
func (c *Canary) ServiceName() string {
	if c.Spec.Service.Name != "" {
		return c.Spec.Service.Name
	}
	return c.Spec.TargetRef.Name
}

// EffectiveTargetPort is the pods' port the Services send traffic to:
// service.targetPort, or service.port.
func (c *Canary) EffectiveTargetPort() intstr.IntOrString {
	tp := c.Spec.Service.TargetPort
	if tp.Type == intstr.String && tp.StrVal != "" {
		return tp
	}
	if tp.Type == intstr.Int && tp.IntVal != 0 {
		return tp
	}
	return intstr.FromInt32(c.Spec.Service.Port)
}

// IntervalDuration is the interval between steps (default 60s).
func (a *CanaryAnalysis) IntervalDuration() time.Duration {
	if a == nil {
		return parseDurationOr("", DefaultAnalysisInterval)
	}
	return parseDurationOr(a.Interval, DefaultAnalysisInterval)
}

// DefaultSequentialEvaluationInterval is how often the sequential judge
// looks at the metrics when its evaluationInterval is not set, so that a
// broken canary is rolled back within seconds rather than at the next step.
const DefaultSequentialEvaluationInterval = 2 * time.Second

// EvaluationInterval is how often metrics are judged: the judge's
// evaluationInterval; else, for the sequential judge, every 2s (never less
// often than the steps); else the analysis interval.
func (a *CanaryAnalysis) EvaluationInterval() time.Duration {
	if a != nil && a.Judge != nil {
		if d, err := time.ParseDuration(a.Judge.EvaluationInterval); err == nil && d > 0 {
			return d
		}
		if a.Judge.EffectiveType() == JudgeSequential {
			return min(DefaultSequentialEvaluationInterval, a.IntervalDuration())
		}
	}
	return a.IntervalDuration()
}

// EffectiveThreshold is the number of failed checks that rolls the canary
// back (default 1).
func (a *CanaryAnalysis) EffectiveThreshold() int {
	if a == nil || a.Threshold < 1 {
		return DefaultThreshold
	}
	return a.Threshold
}

// EffectiveMaxWeight is the canary weight at which the canary is promoted:
// the last of stepWeights when they are set, else maxWeight (default 100).
func (a *CanaryAnalysis) EffectiveMaxWeight() int {
	switch {
	case a == nil:
		return DefaultMaxWeight
	case len(a.StepWeights) > 0:
		return a.StepWeights[len(a.StepWeights)-1]
	case a.MaxWeight > 0:
		return a.MaxWeight
	default:
		return DefaultMaxWeight
	}
}

// EffectivePrimaryReadyThreshold is the percentage of primary pods that
// must be ready (default 100).
func (a *CanaryAnalysis) EffectivePrimaryReadyThreshold() int {
	if a == nil || a.PrimaryReadyThreshold == nil {
		return DefaultReadyThreshold
	}
	return *a.PrimaryReadyThreshold
}

// EffectiveCanaryReadyThreshold is the percentage of canary pods that must
// be ready (default 100).
func (a *CanaryAnalysis) EffectiveCanaryReadyThreshold() int {
	if a == nil || a.CanaryReadyThreshold == nil {
		return DefaultReadyThreshold
	}
	return *a.CanaryReadyThreshold
}

// IntervalDuration is the span the metric is computed over (default 1m).
// Flagger's spelled-out units ("1min") are read as ParseMetricInterval
// reads them.
func (m *CanaryMetric) IntervalDuration() time.Duration {
	if d, _, err := ParseMetricInterval(m.Interval); err == nil && d > 0 {
		return d
	}
	return parseDurationOr("", DefaultMetricInterval)
}

// EffectiveInterval is the metric's interval as queries are given it
// ({{ interval }}): the default (1m) when unset; Flagger's spelled-out
// units in a form Prometheus reads ("1min" becomes "1m"); else as written,
// so that a value that does not parse, which validation refuses, fails the
// query with its own words.
func (m *CanaryMetric) EffectiveInterval() string {
	if m.Interval == "" {
		return DefaultMetricInterval
	}
	if d, spelled, err := ParseMetricInterval(m.Interval); err == nil && d > 0 && spelled {
		return FormatInterval(d)
	}
	return m.Interval
}

// EffectiveType is the gate of the webhook (default rollout).
func (w *CanaryWebhook) EffectiveType() HookType {
	if w.Type == "" {
		return RolloutHook
	}
	return w.Type
}

// TimeoutDuration is the timeout of one call (default 10s).
func (w *CanaryWebhook) TimeoutDuration() time.Duration {
	return parseDurationOr(w.Timeout, DefaultWebhookTimeout)
}

// EffectiveMaxAge is the lifetime of the session cookie (default 86400s).
func (s *SessionAffinity) EffectiveMaxAge() time.Duration {
	if s == nil || s.MaxAge <= 0 {
		return DefaultSessionAffinityMaxAge * time.Second
	}
	return time.Duration(s.MaxAge) * time.Second
}

// EffectiveType is the judge's type (default threshold).
func (j *JudgeSpec) EffectiveType() string {
	if j == nil || j.Type == "" {
		return JudgeThreshold
	}
	return j.Type
}

// EffectiveAlpha is the sequential judge's false-rollback rate
// (default 0.01).
func (j *JudgeSpec) EffectiveAlpha() float64 {
	if j == nil || j.Alpha == nil {
		return DefaultJudgeAlpha
	}
	return *j.Alpha
}

// parseDurationOr parses s, or def when s is empty or does not parse; def
// is one of the package's default constants and always parses.
func parseDurationOr(s, def string) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	d, _ := time.ParseDuration(def)
	return d
}

// CookieAttributes are the attributes of the Set-Cookie header that pins a
// client, after its name=value: "; Max-Age=86400; Path=/" and, when set,
// Domain, HttpOnly, Secure, SameSite and Partitioned, in that order.
func (s *SessionAffinity) CookieAttributes() string {
	var b strings.Builder
	b.WriteString("; Max-Age=" + strconv.Itoa(int(s.EffectiveMaxAge()/time.Second)))
	path := "/"
	if s != nil && s.Path != "" {
		path = s.Path
	}
	b.WriteString("; Path=" + path)
	if s == nil {
		return b.String()
	}
	if s.Domain != "" {
		b.WriteString("; Domain=" + s.Domain)
	}
	if s.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if s.Secure {
		b.WriteString("; Secure")
	}
	if s.SameSite != "" {
		b.WriteString("; SameSite=" + s.SameSite)
	}
	if s.Partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String()
}

// HasCookieAttributes reports whether any cookie attribute beyond maxAge is
// set.
func (s *SessionAffinity) HasCookieAttributes() bool {
	return s != nil && (s.Domain != "" || s.Path != "" || s.HTTPOnly || s.Secure || s.SameSite != "" || s.Partitioned)
}
