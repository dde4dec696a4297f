package providers

import (
	"net/http"
	"testing"
	"time"
)

func TestDatadogRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "datadog", Address: srv.URL, Headers: map[string][]string{"X-Team": {"payments"}},
		Secret: secret("datadog_api_key", "api-key", "datadog_application_key", "app-key")})
	s.set(reply{body: `{"status":"ok","series":[]}`})
	const q = `sum:istio.mesh.request.count{destination_workload:podinfo}.as_count()`
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodGet || r.path != "/api/v1/query" {
		t.Errorf("request = %s %s, want GET /api/v1/query", r.method, r.path)
	}
	// Ten intervals back, as Flagger.
	wantQuery(t, r.query, map[string]string{"query": q, "from": "1700000000", "to": "1700000600"})
	if r.header.Get("DD-API-KEY") != "api-key" || r.header.Get("DD-APPLICATION-KEY") != "app-key" || r.header.Get("X-Team") != "payments" {
		t.Errorf("headers = %v", r.header)
	}
}

func TestDatadogDefaultAddressAndKeys(t *testing.T) {
	p, err := New(Config{Type: "datadog", Secret: secret("datadog_api_key", "a", "datadog_application_key", "b")})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*datadog).api.base.String(); got != DatadogAddress {
		t.Errorf("address = %s, want %s", got, DatadogAddress)
	}
	if _, err := New(Config{Type: "datadog", Secret: secret("datadog_api_key", "a")}); err == nil || !contains(err, `no key "datadog_application_key"`) {
		t.Errorf("a Secret without the application key: %v", err)
	}
	if _, err := New(Config{Type: "datadog"}); err == nil || !contains(err, "needs spec.provider.secretRef") {
		t.Errorf("no Secret: %v", err)
	}
}

func TestDatadogReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "datadog", Address: srv.URL, Secret: secret("datadog_api_key", "a", "datadog_application_key", "b")})
	series := func(points string) string {
		return `{"status":"ok","res_type":"time_series","query":"q","from_date":1700000000000,"to_date":1700000600000,` +
			`"series":[{"metric":"istio.mesh.request.count","scope":"destination_workload:podinfo","aggr":"sum","interval":20,"length":3,` +
			`"pointlist":` + points + `}]}`
	}
	checkReplies(t, s, p, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "the oldest point", reply: reply{body: series(`[[1700000000000.0,0.5],[1700000020000.0,0.7]]`)}, want: 0.5, wantOK: true},
		{name: "null points are skipped", reply: reply{body: series(`[[1700000000000.0,null],[1700000020000.0,0.7]]`)}, want: 0.7, wantOK: true},
		{name: "no series is no data", reply: reply{body: `{"status":"ok","res_type":"time_series","series":[]}`}},
		{name: "only nulls is no data", reply: reply{body: series(`[[1700000000000.0,null]]`)}},
		{name: "several series", reply: reply{body: `{"status":"ok","series":[{"pointlist":[[1,1]]},{"pointlist":[[1,2]]}]}`}, wantMsg: "returned 2 series, want 1"},
		{name: "bad query", reply: reply{status: 400, body: `{"errors":["Error parsing query: unable to parse q"]}`}, wantErr: ErrRefused, wantMsg: "400 Bad Request: Error parsing query"},
		{name: "bad keys", reply: reply{status: 403, body: `{"errors":["Forbidden"]}`}, wantErr: ErrCredentials, wantMsg: "403 Forbidden: Forbidden"},
		{name: "rate limited", reply: reply{status: 429, header: map[string]string{"Retry-After": "12", "X-RateLimit-Reset": "12"},
			body: `{"errors":["Rate limit of 1600 requests in 3600 seconds reached. Please try again later."]}`}, wantErr: ErrThrottled, wantMsg: "retry after 12"},
		{name: "error status in a 200", reply: reply{body: `{"status":"error","error":"Rate limit of 300 requests in 3600 seconds reached."}`}, wantErr: ErrThrottled},
		{name: "not JSON", reply: reply{body: `<html>gateway</html>`}, wantErr: ErrMalformed, wantMsg: "<html>gateway</html>"},
		{name: "a point that is not a number", reply: reply{body: series(`[[1700000000000.0,"x"]]`)}, wantErr: ErrMalformed},
	})
}
