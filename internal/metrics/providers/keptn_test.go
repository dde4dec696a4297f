package providers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func keptnMetric(ns, name string, value any) *unstructured.Unstructured {
	m := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"provider": map[string]any{"name": "prometheus"}, "query": "sum(x)", "fetchIntervalSeconds": int64(10)},
	}}
	if value != nil {
		m.Object["status"] = map[string]any{"value": value, "rawValue": "MTI="}
	}
	m.SetGroupVersionKind(keptnGV().WithKind("KeptnMetric"))
	m.SetNamespace(ns)
	m.SetName(name)
	return m
}

func TestKeptnMetric(t *testing.T) {
	kube := fake.NewClientBuilder().WithObjects(
		keptnMetric("test", "error-rate", "0.25"),
		keptnMetric("test", "fresh", nil),
		keptnMetric("test", "garbled", "lots"),
	).Build()
	p := mustNew(t, Config{Type: "keptn", Kube: kube})
	for _, tc := range []struct {
		query   string
		want    float64
		wantOK  bool
		wantErr string
	}{
		{query: "keptnmetric/test/error-rate", want: 0.25, wantOK: true},
		{query: "KeptnMetrics/test/error-rate\n", want: 0.25, wantOK: true},
		{query: "keptnmetric/test/fresh"},
		{query: "keptnmetric/test/garbled", wantErr: "malformed reply"},
		{query: "keptnmetric/test/missing", wantErr: "get KeptnMetric test/missing"},
		{query: "keptnmetric/test", wantErr: "want keptnmetric/<namespace>/<name>"},
		{query: "prometheus/test/x", wantErr: `kind "prometheus" is not keptnmetric or analysis`},
	} {
		v, ok, err := p.Value(t.Context(), Query{Text: tc.query, Interval: time.Minute, Now: now})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error = %v, want %q", tc.query, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v != tc.want || ok != tc.wantOK {
			t.Errorf("%q: Value() = %v, %v, %v, want %v, %v", tc.query, v, ok, err, tc.want, tc.wantOK)
		}
	}
}

// keptnOperator plays Keptn's metrics operator on a fake cluster: an
// Analysis is completed with pass when created, and the Analyses asked
// for are recorded.
func keptnOperator(t *testing.T, pass *bool) (client.Client, *[]*unstructured.Unstructured, *[]string) {
	t.Helper()
	var created []*unstructured.Unstructured
	var deleted []string
	kube := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			u := obj.(*unstructured.Unstructured)
			if u.GetGenerateName() != "" && u.GetName() == "" {
				u.SetName(u.GetGenerateName() + "x7k2p")
			}
			created = append(created, u.DeepCopy())
			if pass != nil {
				u.Object["status"] = map[string]any{"state": "Completed", "pass": *pass, "raw": "{}"}
			}
			return c.Create(ctx, u, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			deleted = append(deleted, obj.GetNamespace()+"/"+obj.GetName())
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	return kube, &created, &deleted
}

func TestKeptnAnalysis(t *testing.T) {
	for _, pass := range []bool{true, false} {
		kube, created, deleted := keptnOperator(t, &pass)
		p := mustNew(t, Config{Type: "keptn", Kube: kube})
		v, ok, err := p.Value(t.Context(), Query{Text: "analysis/test/podinfo-slo/5m/workload=podinfo;minRequests=10", Interval: time.Minute, Now: now})
		want := 0.0
		if pass {
			want = 1
		}
		if err != nil || !ok || v != want {
			t.Fatalf("pass %v: Value() = %v, %v, %v, want %v", pass, v, ok, err, want)
		}
		a := (*created)[0]
		if a.GetKind() != "Analysis" || a.GetAPIVersion() != "metrics.keptn.sh/v1beta1" || a.GetNamespace() != "test" || a.GetGenerateName() != "podinfo-slo-" {
			t.Errorf("created %s %s %s/%s", a.GetAPIVersion(), a.GetKind(), a.GetNamespace(), a.GetGenerateName())
		}
		def, _, _ := unstructured.NestedString(a.Object, "spec", "analysisDefinition", "name")
		recent, _, _ := unstructured.NestedString(a.Object, "spec", "timeframe", "recent")
		args, _, _ := unstructured.NestedStringMap(a.Object, "spec", "args")
		if def != "podinfo-slo" || recent != "5m" || len(args) != 2 || args["workload"] != "podinfo" || args["minRequests"] != "10" {
			t.Errorf("spec = %v", a.Object["spec"])
		}
		if len(*deleted) != 1 || (*deleted)[0] != "test/podinfo-slo-x7k2p" {
			t.Errorf("deleted %v, want the Analysis created", *deleted)
		}
	}
}

func TestKeptnAnalysisNeverCompletes(t *testing.T) {
	kube, _, deleted := keptnOperator(t, nil)
	p := mustNew(t, Config{Type: "keptn", Kube: kube, Timeout: 300 * time.Millisecond})
	p.(*keptn).poll = 20 * time.Millisecond
	_, _, err := p.Value(t.Context(), Query{Text: "analysis/test/slo", Interval: time.Minute, Now: now})
	if err == nil || !strings.Contains(err.Error(), "not completed within 300ms") || !strings.Contains(err.Error(), "metrics operator") {
		t.Fatalf("Value() error = %v, want a timeout naming Keptn", err)
	}
	if len(*deleted) != 1 {
		t.Errorf("deleted %v, want the Analysis removed after the timeout", *deleted)
	}
}

func TestKeptnForbidden(t *testing.T) {
	kube := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return apierrors.NewForbidden(schema.GroupResource{Group: "metrics.keptn.sh", Resource: "keptnmetrics"}, "x", errors.New("RBAC"))
		},
	}).Build()
	p := mustNew(t, Config{Type: "keptn", Kube: kube})
	if _, _, err := p.Value(t.Context(), Query{Text: "keptnmetric/test/x", Interval: time.Minute, Now: now}); !errors.Is(err, ErrCredentials) {
		t.Fatalf("Value() error = %v, want ErrCredentials", err)
	}
	if _, err := New(Config{Type: "keptn"}); err == nil || !strings.Contains(err.Error(), "runs only under serin controller") {
		t.Errorf("keptn without a cluster: %v", err)
	}
}
