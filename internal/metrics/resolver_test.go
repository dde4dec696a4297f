package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

var now = time.Unix(1_800_000_000, 0)

// fakeProm answers every instant query with one sample of value (or an
// empty vector when value is ""), and records the queries and headers.
type fakeProm struct {
	value string

	mu      sync.Mutex
	queries []string
	headers []http.Header
}

func startProm(t *testing.T, value string) (*fakeProm, string) {
	t.Helper()
	p := &fakeProm{value: value}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.queries = append(p.queries, r.Form.Get("query"))
	p.headers = append(p.headers, r.Header.Clone())
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	result := ""
	if p.value != "" {
		result = fmt.Sprintf(`{"metric":{},"value":[1800000000,%q]}`, p.value)
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, result)
}

func (p *fakeProm) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

// recordingSource stands in for the local telemetry source.
type recordingSource struct{ calls int }

func (s *recordingSource) Query(_ context.Context, _ *v1beta1.Canary, m v1beta1.CanaryMetric, _ time.Time) (judge.Observation, error) {
	s.calls++
	return judge.Observation{Metric: m.Name, HasValue: true, Value: 99.9}, nil
}

func canary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
}

func templates(ts ...*v1beta1.MetricTemplate) TemplateLookup {
	return func(_ context.Context, namespace, name string) (*v1beta1.MetricTemplate, error) {
		for _, t := range ts {
			if t.Namespace == namespace && t.Name == name {
				return t, nil
			}
		}
		return nil, fmt.Errorf("metrictemplate %s/%s not found", namespace, name)
	}
}

func template(ns, name, addr, query string) *v1beta1.MetricTemplate {
	return &v1beta1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1beta1.MetricTemplateSpec{
			Provider: v1beta1.MetricTemplateProvider{Type: "prometheus", Address: addr},
			Query:    query,
		},
	}
}

func TestBuiltinRouting(t *testing.T) {
	ctx := context.Background()
	sr := v1beta1.CanaryMetric{Name: RequestSuccessRate, Interval: "1m"}

	t.Run("local telemetry by default", func(t *testing.T) {
		local := &recordingSource{}
		prom, addr := startProm(t, "50")
		r := New(Options{Builtin: local, MetricsServer: addr, Now: func() time.Time { return now }})
		obs, err := r.Query(ctx, canary(), sr, time.Time{})
		if err != nil || obs.Value != 99.9 || local.calls != 1 || len(prom.asked()) != 0 {
			t.Fatalf("obs = %+v, err = %v, local calls = %d, prometheus queries = %v", obs, err, local.calls, prom.asked())
		}
	})
	t.Run("spec.metricsServer wins", func(t *testing.T) {
		local := &recordingSource{}
		prom, addr := startProm(t, "97")
		r := New(Options{Builtin: local, Now: func() time.Time { return now }})
		c := canary()
		c.Spec.MetricsServer = addr
		obs, err := r.Query(ctx, c, sr, time.Time{})
		if err != nil || !obs.HasValue || obs.Value != 97 || local.calls != 0 {
			t.Fatalf("obs = %+v, err = %v, local calls = %d", obs, err, local.calls)
		}
		want := `sum(rate(response_total{namespace="test",deployment=~"podinfo",classification!="failure",direction="inbound"}[1m])) / sum(rate(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[1m])) * 100`
		if q := prom.asked(); len(q) == 0 || q[0] != want {
			t.Errorf("first query = %q, want %q", q, want)
		}
	})
	t.Run("controller default server", func(t *testing.T) {
		prom, addr := startProm(t, "120")
		r := New(Options{MetricsServer: addr, Now: func() time.Time { return now }})
		obs, err := r.Query(ctx, canary(), v1beta1.CanaryMetric{Name: RequestSuccessRate}, now.Add(-time.Minute))
		if err != nil || obs.Value != 120 || !obs.HasCounts || obs.Canary.Requests != 120 {
			t.Fatalf("obs = %+v, err = %v", obs, err)
		}
		if q := prom.asked(); len(q) != 8 {
			t.Errorf("queries = %q, want the value, the samples, four counts and the primary's history", q)
		}
	})
	t.Run("no source", func(t *testing.T) {
		_, err := New(Options{}).Query(ctx, canary(), sr, time.Time{})
		if err == nil || !strings.Contains(err.Error(), "spec.metricsServer") {
			t.Fatalf("err = %v, want a hint at spec.metricsServer", err)
		}
	})
}

func TestTemplates(t *testing.T) {
	ctx := context.Background()
	const query = `sum(rate(requests_total{namespace="{{ namespace }}",app="{{ target }}",code=~"{{ variables.codes }}"}[{{ interval }}]))`
	const rendered = `sum(rate(requests_total{namespace="test",app="podinfo",code=~"5.."}[30s]))`
	metric := v1beta1.CanaryMetric{
		Name: "errors", Interval: "30s",
		TemplateRef:       &v1beta1.CrossNamespaceObjectReference{Name: "errors"},
		TemplateVariables: map[string]string{"codes": "5.."},
	}

	t.Run("rendered and sent to the template's provider", func(t *testing.T) {
		prom, addr := startProm(t, "3.5")
		other, otherAddr := startProm(t, "1")
		tmpl := template("test", "errors", addr, query)
		tmpl.Spec.Provider.Headers = map[string][]string{"X-Scope-OrgID": {"team-a"}}
		r := New(Options{MetricsServer: otherAddr, Templates: templates(tmpl), Now: func() time.Time { return now }})
		obs, err := r.Query(ctx, canary(), metric, now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := judge.Observation{Metric: "errors", HasValue: true, Value: 3.5, Samples: -1}
		if fmt.Sprint(obs) != fmt.Sprint(want) {
			t.Errorf("obs = %+v, want %+v", obs, want)
		}
		if q := prom.asked(); len(q) != 1 || q[0] != rendered {
			t.Errorf("queries = %q, want [%q]", q, rendered)
		}
		if h := prom.headers[0].Get("X-Scope-OrgID"); h != "team-a" {
			t.Errorf("header X-Scope-OrgID = %q", h)
		}
		if len(other.asked()) != 0 {
			t.Errorf("default server was queried: %q", other.asked())
		}
	})
	t.Run("template in another namespace", func(t *testing.T) {
		_, addr := startProm(t, "1")
		m := metric
		m.TemplateRef = &v1beta1.CrossNamespaceObjectReference{Name: "errors", Namespace: "shared"}
		r := New(Options{Templates: templates(template("shared", "errors", addr, query))})
		if _, err := r.Query(ctx, canary(), m, time.Time{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no data is not an error", func(t *testing.T) {
		_, addr := startProm(t, "")
		r := New(Options{Templates: templates(template("test", "errors", addr, query))})
		obs, err := r.Query(ctx, canary(), metric, time.Time{})
		if err != nil || obs.HasValue {
			t.Fatalf("obs = %+v, err = %v, want no data", obs, err)
		}
	})
	t.Run("address falls back to the metrics server", func(t *testing.T) {
		prom, addr := startProm(t, "2")
		r := New(Options{MetricsServer: addr, Templates: templates(template("test", "errors", "", query))})
		if obs, err := r.Query(ctx, canary(), metric, time.Time{}); err != nil || obs.Value != 2 || len(prom.asked()) != 1 {
			t.Fatalf("obs = %+v, err = %v", obs, err)
		}
	})
}

func TestTemplateCredentials(t *testing.T) {
	ctx := context.Background()
	metric := v1beta1.CanaryMetric{Name: "up", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "up"}}
	secrets := func(_ context.Context, namespace, name string) (map[string][]byte, error) {
		switch namespace + "/" + name {
		case "test/basic":
			return map[string][]byte{"username": []byte("u"), "password": []byte("p")}, nil
		case "test/token":
			return map[string][]byte{"token": []byte("t0k")}, nil
		case "test/empty":
			return map[string][]byte{}, nil
		}
		return nil, errors.New("not found")
	}
	tests := []struct {
		secret   string
		wantAuth string
		wantErr  string
	}{
		{secret: "basic", wantAuth: "Basic dTpw"},
		{secret: "token", wantAuth: "Bearer t0k"},
		{secret: "empty", wantErr: "want keys username and password, or token"},
		{secret: "missing", wantErr: "get secret test/missing: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			prom, addr := startProm(t, "1")
			tmpl := template("test", "up", addr, "up")
			tmpl.Spec.Provider.SecretRef = &v1beta1.LocalSecretReference{Name: tt.secret}
			r := New(Options{Templates: templates(tmpl), Secrets: secrets})
			_, err := r.Query(ctx, canary(), metric, time.Time{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "test/up") {
					t.Fatalf("err = %v, want %q naming the template", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := prom.headers[0].Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	_, addr := startProm(t, "1")
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := down.URL
	down.Close()
	ref := func(name string) *v1beta1.CrossNamespaceObjectReference {
		return &v1beta1.CrossNamespaceObjectReference{Name: name}
	}
	unsupported := template("test", "sw", "http://oap:12800", "x")
	unsupported.Spec.Provider.Type = "skywalking"
	lookup := templates(
		template("test", "bad-var", addr, `{{ variables.missing }}`),
		template("test", "bad-syntax", addr, `{{ target `),
		template("test", "down", downAddr, `up`),
		template("test", "no-address", "", `up`),
		unsupported,
	)
	tests := []struct {
		name    string
		metric  v1beta1.CanaryMetric
		opts    Options
		wantErr string
	}{
		{name: "template not found", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("nope")}, opts: Options{Templates: lookup},
			wantErr: "metric m: get MetricTemplate test/nope: metrictemplate test/nope not found"},
		{name: "no template store", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("x")},
			wantErr: "no template store"},
		{name: "missing variable", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("bad-var")}, opts: Options{Templates: lookup},
			wantErr: `render query template test/bad-var`},
		{name: "syntax error", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("bad-syntax")}, opts: Options{Templates: lookup},
			wantErr: `parse query template test/bad-syntax`},
		{name: "unreachable provider", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("down")}, opts: Options{Templates: lookup},
			wantErr: downAddr},
		{name: "unsupported provider", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("sw")}, opts: Options{Templates: lookup},
			wantErr: `provider type "skywalking" is not supported (supported: prometheus, graphite, influxdb,`},
		{name: "no address", metric: v1beta1.CanaryMetric{Name: "m", TemplateRef: ref("no-address")}, opts: Options{Templates: lookup},
			wantErr: "spec.provider.address is empty"},
		{name: "unknown metric", metric: v1beta1.CanaryMetric{Name: "error-rate"},
			wantErr: "metric error-rate: not a built-in metric and has no templateRef"},
		{name: "inline query without server", metric: v1beta1.CanaryMetric{Name: "m", Query: "up"},
			wantErr: "inline query needs a Prometheus server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts).Query(ctx, canary(), tt.metric, time.Time{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestInlineQuery(t *testing.T) {
	prom, addr := startProm(t, "4")
	r := New(Options{MetricsServer: addr})
	obs, err := r.Query(context.Background(), canary(), v1beta1.CanaryMetric{Name: "m", Query: `up{namespace="{{ namespace }}"}`}, time.Time{})
	if err != nil || obs.Value != 4 {
		t.Fatalf("obs = %+v, err = %v", obs, err)
	}
	if q := prom.asked(); q[0] != `up{namespace="test"}` {
		t.Errorf("query = %q", q[0])
	}
}

func TestClientCache(t *testing.T) {
	_, a := startProm(t, "1")
	_, b := startProm(t, "1")
	withHeader := template("test", "h", a, "up")
	withHeader.Spec.Provider.Headers = map[string][]string{"X": {"1"}}
	r := New(Options{Templates: templates(template("test", "a", a, "up"), template("test", "a2", a, "up"), template("test", "b", b, "up"), withHeader)})
	for _, name := range []string{"a", "a2", "b", "h", "a"} {
		m := v1beta1.CanaryMetric{Name: name, TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: name}}
		if _, err := r.Query(context.Background(), canary(), m, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.clients) != 3 {
		t.Errorf("%d clients cached, want 3 (a, b, a with a header)", len(r.clients))
	}
}

// TestValidatedTypesRun: every MetricTemplate provider type serin validate
// accepts is one the resolver runs, so none fails only at run time.
func TestValidatedTypesRun(t *testing.T) {
	runs := map[string]bool{}
	for _, typ := range SupportedTypes() {
		runs[typ] = true
	}
	for _, typ := range v1beta1.MetricProviderTypes() {
		if !runs[typ] {
			t.Errorf("serin validate accepts provider type %q, which the resolver does not run", typ)
		}
	}
}
