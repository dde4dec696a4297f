package providers

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestNewRelicInsightsRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "newrelic", Address: srv.URL, Secret: secret("newrelic_account_id", "1234567", "newrelic_query_key", "NRIQ-key")})
	s.set(reply{body: `{"results":[{"result":1.5}]}`})
	const q = "SELECT filter(sum(nginx_ingress_controller_requests), WHERE status >= '500') / sum(nginx_ingress_controller_requests) * 100 FROM Metric\n"
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: 2 * time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodGet || r.path != "/v1/accounts/1234567/query" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	wantQuery(t, r.query, map[string]string{"nrql": "SELECT filter(sum(nginx_ingress_controller_requests), WHERE status >= '500') / sum(nginx_ingress_controller_requests) * 100 FROM Metric SINCE 120 seconds ago"})
	if got := r.header.Get("X-Query-Key"); got != "NRIQ-key" {
		t.Errorf("X-Query-Key = %q", got)
	}
}

func TestNewRelicNerdGraphRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "newrelic", Address: srv.URL + "/graphql", Secret: secret("newrelic_account_id", "1234567", "newrelic_api_key", "NRAK-key")})
	s.set(reply{body: `{"data":{"actor":{"account":{"nrql":{"results":[{"count":42}]}}}}}`})
	v, ok, err := p.Value(t.Context(), Query{Text: "SELECT count(*) FROM Transaction", Interval: time.Minute, Now: now})
	if err != nil || !ok || v != 42 {
		t.Fatalf("Value() = %v, %v, %v, want 42", v, ok, err)
	}
	r := s.last(t)
	if r.method != http.MethodPost || r.path != "/graphql" || r.header.Get("API-Key") != "NRAK-key" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s %v", r.method, r.path, r.header)
	}
	var body struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Query != `query($q: Nrql!) { actor { account(id: 1234567) { nrql(query: $q) { results } } } }` ||
		body.Variables["q"] != "SELECT count(*) FROM Transaction SINCE 60 seconds ago" {
		t.Errorf("body = %s", r.body)
	}
}

func TestNewRelicSecret(t *testing.T) {
	if _, err := New(Config{Type: "newrelic", Secret: secret("newrelic_query_key", "k")}); err == nil || !contains(err, `no key "newrelic_account_id"`) {
		t.Errorf("no account: %v", err)
	}
	if _, err := New(Config{Type: "newrelic", Secret: secret("newrelic_account_id", "abc", "newrelic_query_key", "k")}); err == nil || !contains(err, "not a number") {
		t.Errorf("bad account: %v", err)
	}
	p, err := New(Config{Type: "newrelic", Secret: secret("newrelic_account_id", "1", "newrelic_query_key", "k")})
	if err != nil || p.(*newRelic).api.base.String() != NewRelicInsightsAddress {
		t.Errorf("default Insights address: %v", err)
	}
}

func TestNewRelicReplies(t *testing.T) {
	s, srv := newStub(t)
	insights := mustNew(t, Config{Type: "newrelic", Address: srv.URL, Secret: secret("newrelic_account_id", "1", "newrelic_query_key", "k")})
	checkReplies(t, s, insights, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "result", reply: reply{body: `{"results":[{"result":2.5}],"metadata":{"eventTypes":["Metric"]}}`}, want: 2.5, wantOK: true},
		{name: "an aggregate", reply: reply{body: `{"results":[{"average":0.25}]}`}, want: 0.25, wantOK: true},
		{name: "a percentile", reply: reply{body: `{"results":[{"percentiles":{"99":0.75}}]}`}, want: 0.75, wantOK: true},
		{name: "null is no data", reply: reply{body: `{"results":[{"result":null}]}`}},
		{name: "no result is no data", reply: reply{body: `{"results":[]}`}},
		{name: "several results", reply: reply{body: `{"results":[{"count":1},{"average":2}]}`}, wantMsg: "returned 2 results"},
		{name: "several values", reply: reply{body: `{"results":[{"count":1,"average":2}]}`}, wantMsg: "2 values (average, count)"},
		{name: "NRQL error", reply: reply{status: 400, body: `{"error":"NRQL Syntax Error: Error at line 1 position 8"}`}, wantErr: ErrRefused, wantMsg: "NRQL Syntax Error"},
		{name: "bad key", reply: reply{status: 401, body: `{"error":"Invalid query key"}`}, wantErr: ErrCredentials},
		{name: "throttled", reply: reply{status: 429, body: `{"error":"rate limited"}`}, wantErr: ErrThrottled},
		{name: "malformed", reply: reply{body: `[1]`}, wantErr: ErrMalformed},
	})
	graph := mustNew(t, Config{Type: "newrelic", Address: srv.URL, Secret: secret("newrelic_account_id", "1", "newrelic_api_key", "k")})
	checkReplies(t, s, graph, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "NerdGraph error", reply: reply{body: `{"data":{"actor":{"account":{"nrql":null}}},"errors":[{"message":"NRQL Syntax Error: unknown function"}]}`}, wantErr: ErrRefused, wantMsg: "unknown function"},
		{name: "NerdGraph no data", reply: reply{body: `{"data":{"actor":{"account":{"nrql":{"results":[]}}}}}`}},
	})
}
