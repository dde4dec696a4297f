package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/metrics/providers"
)

// TestProviderTemplate runs a Datadog template through the resolver: the
// query rendered with Flagger's variables (route among them), the keys
// read from the template's Secret, the range from the metric's interval.
func TestProviderTemplate(t *testing.T) {
	var (
		mu     sync.Mutex
		reqs   []*http.Request
		status = http.StatusOK
		body   = `{"status":"ok","series":[{"pointlist":[[1799999400000.0,0.75]]}]}`
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r)
		code, b := status, body
		mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(srv.Close)
	tmpl := template("test", "dd", srv.URL, `avg:apisix.http.latency{route:{{ route }},namespace:{{ namespace }}}`)
	tmpl.Spec.Provider.Type = "datadog"
	tmpl.Spec.Provider.SecretRef = &v1beta1.LocalSecretReference{Name: "datadog"}
	var secretReads int
	secrets := func(_ context.Context, ns, name string) (map[string][]byte, error) {
		secretReads++
		if ns+"/"+name != "test/datadog" {
			return nil, errors.New("not found")
		}
		return map[string][]byte{"datadog_api_key": []byte("k1"), "datadog_application_key": []byte("k2")}, nil
	}
	r := New(Options{Templates: templates(tmpl), Secrets: secrets, Now: func() time.Time { return now }})
	c := canary()
	c.Spec.RouteRef = &v1beta1.LocalObjectReference{Name: "podinfo-route"}
	m := v1beta1.CanaryMetric{Name: "latency", Interval: "2m", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "dd"}}
	for range 2 {
		obs, err := r.Query(context.Background(), c, m, time.Time{})
		if err != nil || !obs.HasValue || obs.Value != 0.75 || obs.Samples != -1 {
			t.Fatalf("Query() = %+v, %v, want 0.75", obs, err)
		}
	}
	q := reqs[0].URL.Query()
	if q.Get("query") != `avg:apisix.http.latency{route:podinfo-route,namespace:test}` || q.Get("from") != "1799998800" || q.Get("to") != "1800000000" {
		t.Errorf("query = %v", q)
	}
	if reqs[0].Header.Get("DD-API-KEY") != "k1" || reqs[0].Header.Get("DD-APPLICATION-KEY") != "k2" {
		t.Errorf("headers = %v", reqs[0].Header)
	}
	if len(r.providers) != 1 || secretReads != 2 {
		t.Errorf("%d providers cached after %d secret reads, want 1 after 2 (the Secret is read each time, in case it changed)", len(r.providers), secretReads)
	}

	// Each kind of failure is an error naming the metric, the template
	// and the query, never "no data".
	mu.Lock()
	status, body = http.StatusForbidden, `{"errors":["Forbidden"]}`
	mu.Unlock()
	_, err := r.Query(context.Background(), c, m, time.Time{})
	if !errors.Is(err, providers.ErrCredentials) || !strings.Contains(err.Error(), "metric latency: MetricTemplate test/dd: query \"avg:apisix") {
		t.Errorf("err = %v, want bad credentials naming the metric, template and query", err)
	}
}

func TestProviderTemplateErrors(t *testing.T) {
	ref := &v1beta1.CrossNamespaceObjectReference{Name: "x"}
	for _, tc := range []struct {
		name    string
		tmpl    func() *v1beta1.MetricTemplate
		metric  v1beta1.CanaryMetric
		wantErr string
	}{
		{name: "keptn outside a cluster", tmpl: func() *v1beta1.MetricTemplate {
			t := template("test", "x", "", "keptnmetric/test/x")
			t.Spec.Provider.Type = "keptn"
			return t
		}, wantErr: "metric m: MetricTemplate test/x: keptn reads Keptn's objects on a Kubernetes cluster: it runs only under serin controller"},
		{name: "secret without store", tmpl: func() *v1beta1.MetricTemplate {
			t := template("test", "x", "", "q")
			t.Spec.Provider.Type = "datadog"
			t.Spec.Provider.SecretRef = &v1beta1.LocalSecretReference{Name: "dd"}
			return t
		}, wantErr: "secret test/dd: this runtime reads no Secrets: a template with a secretRef runs only under serin controller"},
		{name: "no secret", tmpl: func() *v1beta1.MetricTemplate {
			t := template("test", "x", "", "q")
			t.Spec.Provider.Type = "newrelic"
			return t
		}, wantErr: "newrelic needs spec.provider.secretRef"},
		{name: "bad interval", tmpl: func() *v1beta1.MetricTemplate {
			t := template("test", "x", "http://graphite", "target=x")
			t.Spec.Provider.Type = "graphite"
			return t
		}, metric: v1beta1.CanaryMetric{Interval: "soon"}, wantErr: `interval "soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.metric
			m.Name, m.TemplateRef = "m", ref
			_, err := New(Options{Templates: templates(tc.tmpl())}).Query(context.Background(), canary(), m, time.Time{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestProvidersUseTheTransport: an HTTP provider's queries go through
// Options.Transport, which the local runtime gives to resolve Kubernetes
// Service names such as graphite.monitoring.
func TestProvidersUseTheTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"target":"x","datapoints":[[99.5,1799999990]]}]`)
	}))
	t.Cleanup(srv.Close)
	var dialed []string
	var mu sync.Mutex
	transport := func() *http.Transport {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, strings.TrimPrefix(srv.URL, "http://"))
		}
		return tr
	}
	tmpl := template("test", "rate", "http://graphite.monitoring:8080", `target=x`)
	tmpl.Spec.Provider.Type = "graphite"
	r := New(Options{Templates: templates(tmpl), Transport: transport, Now: func() time.Time { return now }})
	m := v1beta1.CanaryMetric{Name: "rate", Interval: "1m", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "rate"}}
	obs, err := r.Query(context.Background(), canary(), m, time.Time{})
	if err != nil || !obs.HasValue || obs.Value != 99.5 {
		t.Fatalf("Query() = %+v, %v, want 99.5", obs, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 || dialed[0] != "graphite.monitoring:8080" {
		t.Errorf("dialed %v, want graphite.monitoring:8080 through the transport", dialed)
	}
}

// TestValidationKnowsEveryProvider: the MetricTemplate provider types
// validation accepts are exactly those the resolver runs (Prometheus and
// package providers), so serin validate passes no template the controller
// cannot query and refuses none it can.
func TestValidationKnowsEveryProvider(t *testing.T) {
	want := append([]string{"prometheus"}, providers.Types()...)
	got := v1beta1.MetricProviderTypes()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("validation accepts %q, the resolver runs %q", got, want)
	}
}
