package judge

import "github.com/serinhq/serin/api/v1beta1"

// Judge gives the verdict on one metric of a Canary's analysis from what a
// source observed. Implementations are pure: the same metric and
// observation always give the same Result.
type Judge interface {
	Judge(m v1beta1.CanaryMetric, o Observation) Result
}

// The judge types of analysis.judge.type.
const (
	TypeThreshold  = v1beta1.JudgeThreshold
	TypeSequential = v1beta1.JudgeSequential
)

// TypeOf returns the judge type an analysis asks for, "threshold" when it
// names none.
func TypeOf(spec *v1beta1.CanaryAnalysis) string {
	if spec == nil {
		return TypeThreshold
	}
	return spec.Judge.EffectiveType()
}

// For returns the judge an analysis asks for: Flagger's fixed thresholds
// unless analysis.judge.type says otherwise.
func For(spec *v1beta1.CanaryAnalysis) Judge {
	switch TypeOf(spec) {
	case TypeSequential:
		return sequentialFor(spec)
	default:
		return Threshold{}
	}
}
