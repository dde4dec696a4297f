package sim

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

func fptr(v float64) *float64 { return &v }

// walkthroughCanary is the walkthrough's Canary.
func walkthroughCanary() *v1beta1.Canary {
	return &v1beta1.Canary{
		TypeMeta:   metav1.TypeMeta{APIVersion: "flagger.app/v1beta1", Kind: "Canary"},
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 100,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: fptr(99)}, Interval: "1m"},
					{Name: "request-duration", ThresholdRange: &v1beta1.CanaryThresholdRange{Max: fptr(500)}, Interval: "1m"},
				},
			},
		},
	}
}
