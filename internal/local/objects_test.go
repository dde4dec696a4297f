package local

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSelects(t *testing.T) {
	dep := func(ns string, labels map[string]string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: ns}}
		d.Spec.Template.Labels = labels
		return d
	}
	svc := func(ns string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}, Spec: corev1.ServiceSpec{Selector: sel}}
	}
	for _, tc := range []struct {
		name string
		s    *corev1.Service
		d    *appsv1.Deployment
		want bool
	}{
		{"equal", svc("t", map[string]string{"app": "podinfo"}), dep("t", map[string]string{"app": "podinfo"}), true},
		{"subset", svc("t", map[string]string{"app": "podinfo"}), dep("t", map[string]string{"app": "podinfo", "v": "1"}), true},
		{"other value", svc("t", map[string]string{"app": "podinfo"}), dep("t", map[string]string{"app": "podinfo-primary"}), false},
		{"missing label", svc("t", map[string]string{"app": "podinfo", "v": "2"}), dep("t", map[string]string{"app": "podinfo"}), false},
		{"no selector", svc("t", nil), dep("t", map[string]string{"app": "podinfo"}), false},
		{"other namespace", svc("a", map[string]string{"app": "podinfo"}), dep("b", map[string]string{"app": "podinfo"}), false},
	} {
		if got := selects(tc.s, tc.d); got != tc.want {
			t.Errorf("%s: selects = %v, want %v", tc.name, got, tc.want)
		}
	}
}
