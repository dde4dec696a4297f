package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAccessForbidden(t *testing.T) {
	denied := apierrors.NewForbidden(schema.GroupResource{Group: "serin.dev", Resource: "canaries"}, "podinfo", errors.New("RBAC"))
	err := access(denied, "patch", "canaries.serin.dev", "test")
	if want := "forbidden: you cannot patch canaries.serin.dev in namespace test"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	var f *Forbidden
	if !errors.As(err, &f) || !apierrors.IsForbidden(err) {
		t.Errorf("%v is not a Forbidden wrapping the API error", err)
	}
	if got := access(denied, "list", "canaries.serin.dev", "").Error(); got != "forbidden: you cannot list canaries.serin.dev in all namespaces" {
		t.Errorf("across namespaces: %q", got)
	}
	other := access(errors.New("boom"), "get", "deployments.apps", "test")
	if !strings.Contains(other.Error(), "get deployments.apps in namespace test: boom") {
		t.Errorf("other error: %q", other)
	}
}

func TestWeights(t *testing.T) {
	got := backendsOf([]any{
		map[string]any{"service": "podinfo-primary", "weight": "90"},
		map[string]any{"service": "podinfo-canary", "weight": int64(10)},
		map[string]any{"service": "x", "weight": "500m"},
	}, "service")
	want := []Backend{{"podinfo-primary", 90}, {"podinfo-canary", 10}, {"x", 1}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backend %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestEventOf(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := eventOf(&corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Canary", Namespace: "test", Name: "podinfo"},
		Type:           "Normal", Reason: "Synced", Message: "Advance", Count: 3,
		FirstTimestamp: metav1.NewTime(ts),
	})
	if !e.Time.Equal(ts) || e.Kind != "Canary" || e.Name != "podinfo" || e.Count != 3 {
		t.Errorf("eventOf = %+v", e)
	}
}
