package providers

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

const externalMetricList = `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[` +
	`{"metricName":"s0-http_requests_errors","metricLabels":{"deployment":"podinfo"},"timestamp":"2023-11-14T22:13:20Z","value":"%s"}]}`

func TestExternalMetricsRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "externalmetrics", Address: srv.URL, Secret: secret("token", "sa-token")})
	s.set(reply{body: `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[]}`})
	if _, _, err := p.Value(t.Context(), Query{Text: "test/s0-http_requests_errors?labelSelector=deployment%3Dpodinfo", Interval: time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodGet || r.path != "/apis/external.metrics.k8s.io/v1beta1/namespaces/test/s0-http_requests_errors" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	wantQuery(t, r.query, map[string]string{"labelSelector": "deployment=podinfo"})
	if got := r.header.Get("Authorization"); got != "Bearer sa-token" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestExternalMetricsFromTheCluster(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "externalmetrics", KubeConfig: &rest.Config{Host: srv.URL, BearerToken: "controller-token"}})
	s.set(reply{body: fmt.Sprintf(externalMetricList, "250m")})
	v, ok, err := p.Value(t.Context(), Query{Text: "errors", Interval: time.Minute, Now: now})
	if err != nil || !ok || v != 0.25 {
		t.Fatalf("Value() = %v, %v, %v, want 0.25", v, ok, err)
	}
	r := s.last(t)
	if r.path != "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/errors" || r.header.Get("Authorization") != "Bearer controller-token" {
		t.Errorf("request = %s %v", r.path, r.header)
	}
	if _, err := New(Config{Type: "externalmetrics"}); err == nil || !contains(err, "runs only under serin controller") {
		t.Errorf("no address and no cluster: %v", err)
	}
}

func TestExternalMetricsReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "externalmetrics", Address: srv.URL})
	checkReplies(t, s, p, Query{Text: "test/errors", Interval: time.Minute, Now: now}, []replyCase{
		{name: "a quantity", reply: reply{body: fmt.Sprintf(externalMetricList, "3")}, want: 3, wantOK: true},
		{name: "no items is no data", reply: reply{body: `{"kind":"ExternalMetricValueList","items":[]}`}},
		{name: "unknown metric", reply: reply{status: 404, body: `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server could not find the metric errors","reason":"NotFound","code":404}`}, wantErr: ErrRefused, wantMsg: "could not find the metric"},
		{name: "forbidden", reply: reply{status: 403, body: `{"kind":"Status","status":"Failure","message":"errors.external.metrics.k8s.io is forbidden","reason":"Forbidden","code":403}`}, wantErr: ErrCredentials},
		{name: "throttled", reply: reply{status: 429, body: `{"kind":"Status","message":"Too many requests"}`}, wantErr: ErrThrottled},
		{name: "malformed", reply: reply{body: fmt.Sprintf(externalMetricList, "lots")}, wantErr: ErrMalformed},
	})
	for _, bad := range []string{"a/b/c", "test/", "test/x?labelSelector=%3D%3D%3D"} {
		if _, _, err := p.Value(t.Context(), Query{Text: bad, Interval: time.Minute, Now: now}); err == nil {
			t.Errorf("query %q: want an error", bad)
		}
	}
}
