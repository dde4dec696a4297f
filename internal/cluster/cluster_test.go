package cluster

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/serinhq/serin/internal/metrics/prometheus"
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

// fakeProm answers each query with the samples of the first key it
// contains.
type fakeProm map[string]model.Vector

func (f fakeProm) Vector(_ context.Context, q string, _ time.Time) (model.Vector, error) {
	for k, v := range f {
		if strings.Contains(q, k) {
			return v, nil
		}
	}
	return nil, nil
}

func sample(v float64, labels ...string) *model.Sample {
	m := model.Metric{}
	for i := 0; i < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestLinkerdStats(t *testing.T) {
	q := fakeProm{
		"response_total": {
			sample(95, "namespace", "test", "deployment", "podinfo", "classification", "success"),
			sample(5, "namespace", "test", "deployment", "podinfo", "classification", "failure"),
			sample(0, "namespace", "test", "deployment", "idle", "classification", "success"),
		},
		"histogram_quantile(0.5,":  {sample(3.5, "namespace", "test", "deployment", "podinfo")},
		"histogram_quantile(0.95,": {sample(math.NaN(), "namespace", "test", "deployment", "podinfo")},
		"histogram_quantile(0.99,": {sample(9.9, "namespace", "test", "deployment", "podinfo")},
		"tcp_open_connections":     {sample(2, "namespace", "test", "deployment", "podinfo")},
	}
	got, err := LinkerdStats(t.Context(), q, StatDeployment, "test", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, ok := got["test/podinfo"]
	if !ok || len(got) != 1 {
		t.Fatalf("rows %+v, want test/podinfo only (idle had no traffic)", got)
	}
	if r.Success != 95 || math.Abs(r.RPS-100.0/60) > 1e-12 || r.P50 == nil || *r.P50 != 3.5 || r.P95 != nil || r.P99 == nil || *r.P99 != 9.9 || r.TCPConn == nil || *r.TCPConn != 2 {
		t.Errorf("row %+v", r)
	}
}

func TestLinkerdStatsUnreachable(t *testing.T) {
	q, err := prometheus.NewClient(prometheus.Config{Address: "http://127.0.0.1:1", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LinkerdStats(t.Context(), q, StatDeployment, "test", time.Minute, time.Now())
	if err == nil || !strings.Contains(err.Error(), "cannot reach Prometheus (pass --prometheus URL") {
		t.Errorf("unreachable Prometheus: %v", err)
	}
}
