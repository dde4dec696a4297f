package judge

import (
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
)

func ptr(f float64) *float64 { return &f }

func TestThreshold(t *testing.T) {
	successRate := v1beta1.CanaryMetric{Name: RequestSuccessRate, ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptr(99)}}
	duration := v1beta1.CanaryMetric{Name: RequestDuration, ThresholdRange: &v1beta1.CanaryThresholdRange{Max: ptr(500)}}
	tests := []struct {
		name    string
		metric  v1beta1.CanaryMetric
		obs     Observation
		verdict Verdict
		reason  string
	}{
		{
			name:    "success rate below min fails",
			metric:  successRate,
			obs:     Observation{HasValue: true, Value: 97.2, Samples: 412},
			verdict: Fail,
			reason:  "request-success-rate 97.2% < 99% (n=412)",
		},
		{
			name:    "success rate at min passes",
			metric:  successRate,
			obs:     Observation{HasValue: true, Value: 99, Samples: 10},
			verdict: Pass,
			reason:  "request-success-rate 99% >= 99% (n=10)",
		},
		{
			name:    "value close to the limit keeps the digits that tell them apart",
			metric:  successRate,
			obs:     Observation{HasValue: true, Value: 98.9991, Samples: 1000},
			verdict: Fail,
			reason:  "request-success-rate 98.999% < 99% (n=1000)",
		},
		{
			name:    "duration above max fails",
			metric:  duration,
			obs:     Observation{HasValue: true, Value: 612, Samples: 412},
			verdict: Fail,
			reason:  "request-duration 612ms > 500ms (n=412)",
		},
		{
			name:    "duration below max passes",
			metric:  duration,
			obs:     Observation{HasValue: true, Value: 98.456, Samples: 412},
			verdict: Pass,
			reason:  "request-duration 98.46ms <= 500ms (n=412)",
		},
		{
			name:    "no value waits for traffic",
			metric:  successRate,
			obs:     Observation{Target: "podinfo.test"},
			verdict: Wait,
			reason:  "request-success-rate has no data (n=0): waiting for traffic to podinfo.test",
		},
		{
			name:    "a value from zero samples waits for traffic",
			metric:  duration,
			obs:     Observation{HasValue: true, Value: 0, Samples: 0, Target: "podinfo.test"},
			verdict: Wait,
			reason:  "request-duration has no data (n=0): waiting for traffic to podinfo.test",
		},
		{
			name:    "unknown sample count is judged on the value",
			metric:  successRate,
			obs:     Observation{HasValue: true, Value: 100, Samples: -1},
			verdict: Pass,
			reason:  "request-success-rate 100% >= 99%",
		},
		{
			name:    "query error waits and says why",
			metric:  successRate,
			obs:     Observation{Err: "dial tcp 127.0.0.1:9090: connection refused", HasValue: true, Value: 12, Samples: 4},
			verdict: Wait,
			reason:  "request-success-rate query failed: dial tcp 127.0.0.1:9090: connection refused",
		},
		{
			name:    "deprecated threshold is the minimum of a success rate",
			metric:  v1beta1.CanaryMetric{Name: RequestSuccessRate, Threshold: 99},
			obs:     Observation{HasValue: true, Value: 98, Samples: 50},
			verdict: Fail,
			reason:  "request-success-rate 98% < 99% (n=50)",
		},
		{
			name:    "deprecated threshold is the maximum of request-duration",
			metric:  v1beta1.CanaryMetric{Name: RequestDuration, Threshold: 500},
			obs:     Observation{HasValue: true, Value: 400, Samples: 50},
			verdict: Pass,
			reason:  "request-duration 400ms <= 500ms (n=50)",
		},
		{
			// Flagger's own latency template carries threshold: 500.
			name:    "deprecated threshold is the maximum of any other metric",
			metric:  v1beta1.CanaryMetric{Name: "latency", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "latency"}, Threshold: 500},
			obs:     Observation{HasValue: true, Value: 100, Samples: 50},
			verdict: Pass,
			reason:  "latency 100 <= 500 (n=50)",
		},
		{
			name:    "deprecated threshold fails a custom metric above it",
			metric:  v1beta1.CanaryMetric{Name: "error-rate", Threshold: 1},
			obs:     Observation{HasValue: true, Value: 2.5, Samples: 50},
			verdict: Fail,
			reason:  "error-rate 2.5 > 1 (n=50)",
		},
		{
			name:    "thresholdRange wins over the deprecated threshold",
			metric:  v1beta1.CanaryMetric{Name: RequestSuccessRate, Threshold: 50, ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptr(90)}},
			obs:     Observation{HasValue: true, Value: 80, Samples: 5},
			verdict: Fail,
			reason:  "request-success-rate 80% < 90% (n=5)",
		},
		{
			name:    "custom metric within a range",
			metric:  v1beta1.CanaryMetric{Name: "queue-depth", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptr(1), Max: ptr(10)}},
			obs:     Observation{HasValue: true, Value: 5, Samples: 3},
			verdict: Pass,
			reason:  "queue-depth 5 within [1, 10] (n=3)",
		},
		{
			name:    "custom metric above its range",
			metric:  v1beta1.CanaryMetric{Name: "queue-depth", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptr(1), Max: ptr(10)}},
			obs:     Observation{HasValue: true, Value: 10.5, Samples: 3},
			verdict: Fail,
			reason:  "queue-depth 10.5 > 10 (n=3)",
		},
		{
			name:    "metric without limits passes",
			metric:  v1beta1.CanaryMetric{Name: "custom"},
			obs:     Observation{HasValue: true, Value: 3, Samples: 1},
			verdict: Pass,
			reason:  "custom 3 (no limits) (n=1)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Threshold{}.Judge(tt.metric, tt.obs)
			if got.Verdict != tt.verdict || got.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", got.Verdict, got.Reason, tt.verdict, tt.reason)
			}
			if got.Metric != tt.metric.Name {
				t.Errorf("metric = %q, want %q", got.Metric, tt.metric.Name)
			}
			if tt.verdict != Wait && (got.Value == nil || *got.Value != tt.obs.Value) {
				t.Errorf("value = %v, want %v", got.Value, tt.obs.Value)
			}
		})
	}
}

func TestFor(t *testing.T) {
	for _, typ := range []string{"", TypeThreshold, TypeSequential} {
		a := &v1beta1.CanaryAnalysis{Judge: &v1beta1.JudgeSpec{Type: typ}}
		if For(a) == nil {
			t.Errorf("For(type %q) = nil", typ)
		}
	}
	if _, ok := For(nil).(Threshold); !ok {
		t.Errorf("For(nil) = %T, want Threshold", For(nil))
	}
	if got := TypeOf(nil); got != TypeThreshold {
		t.Errorf("TypeOf(nil) = %q, want %q", got, TypeThreshold)
	}
}
