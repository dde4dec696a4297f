package render

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

func testCanary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo-app"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
}

func TestVarsFor(t *testing.T) {
	c := testCanary()
	v := VarsFor(c, v1beta1.CanaryMetric{Name: "x"})
	if v.Name != "podinfo" || v.Namespace != "test" || v.Target != "podinfo-app" {
		t.Errorf("identity vars = %+v", v)
	}
	if v.Service != "podinfo-app" || v.Ingress != "podinfo-app" || v.Route != "podinfo-app" {
		t.Errorf("service/ingress/route default to the target, got %q/%q/%q", v.Service, v.Ingress, v.Route)
	}
	if v.Interval != "1m" {
		t.Errorf("interval defaults to 1m, got %q", v.Interval)
	}

	c.Spec.Service.Name = "front"
	c.Spec.IngressRef = &v1beta1.LocalObjectReference{Name: "edge"}
	c.Spec.RouteRef = &v1beta1.LocalObjectReference{Name: "apisix-route"}
	v = VarsFor(c, v1beta1.CanaryMetric{Name: "x", Interval: "30s", TemplateVariables: map[string]string{"d": "inbound"}})
	if v.Service != "front" || v.Ingress != "edge" || v.Route != "apisix-route" || v.Interval != "30s" || v.Variables["d"] != "inbound" {
		t.Errorf("explicit vars = %+v", v)
	}
	// Flagger's schema lets "1min" through; queries get what PromQL reads.
	if v := VarsFor(c, v1beta1.CanaryMetric{Name: "x", Interval: "1min"}); v.Interval != "1m" {
		t.Errorf("interval 1min is given to queries as %q, want 1m", v.Interval)
	}
}

func TestQuery(t *testing.T) {
	c := testCanary()
	m := v1beta1.CanaryMetric{Name: "latency", Interval: "2m", TemplateVariables: map[string]string{"direction": "inbound"}}
	vars := VarsFor(c, m)
	tests := []struct {
		name    string
		tmpl    string
		want    string
		wantErr string
	}{
		{name: "flagger functions", tmpl: `{{ name }}/{{ namespace }}/{{ target }}/{{ service }}/{{ ingress }}/{{ route }}/{{ interval }}`, want: "podinfo/test/podinfo-app/podinfo-app/podinfo-app/podinfo-app/2m"},
		{name: "flagger variables", tmpl: `direction="{{ variables.direction }}"`, want: `direction="inbound"`},
		{name: "dot fields", tmpl: `{{ .namespace }} {{ .variables.direction }}`, want: "test inbound"},
		{name: "index", tmpl: `{{ index variables "direction" }}`, want: "inbound"},
		{name: "no actions", tmpl: `vector(1)`, want: "vector(1)"},
		{name: "missing variable", tmpl: `{{ variables.nope }}`, wantErr: `map has no entry for key "nope"`},
		{name: "missing dot field", tmpl: `{{ .nope }}`, wantErr: `map has no entry for key "nope"`},
		{name: "unknown function", tmpl: `{{ nope }}`, wantErr: `function "nope" not defined`},
		{name: "syntax error", tmpl: `{{ namespace `, wantErr: "parse query template test/latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Query("test/latency", tt.tmpl, vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Query() error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "test/latency") {
					t.Errorf("error %q does not name the template", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Query() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Query() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQueryNoVariables(t *testing.T) {
	v := VarsFor(testCanary(), v1beta1.CanaryMetric{Name: "x"})
	if _, err := Query("t", `{{ variables.direction }}`, v); err == nil {
		t.Fatal("a variable the metric does not set must be an error")
	}
}
