package providers

import (
	"net/http"
	"testing"
	"time"
)

func TestGraphiteRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "graphite", Address: srv.URL + "/graphite", Secret: secret("username", "u", "password", "p")})
	s.set(reply{body: `[]`})
	q := "target=summarize(\n  asPercent(sumSeries(stats.app.podinfo.ok), sumSeries(stats.app.podinfo.all)),\n  '1min', 'avg'\n)&from=-1min"
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodGet || r.path != "/graphite/render" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	wantQuery(t, r.query, map[string]string{
		"target": "summarize( asPercent(sumSeries(stats.app.podinfo.ok), sumSeries(stats.app.podinfo.all)), '1min', 'avg' )",
		"from":   "-1min",
		"format": "json",
	})
	req := &http.Request{Header: r.header}
	if u, pw, ok := req.BasicAuth(); !ok || u != "u" || pw != "p" {
		t.Errorf("basic auth = %q %q %v", u, pw, ok)
	}
	if _, err := New(Config{Type: "graphite", Address: srv.URL, Secret: secret("username", "u")}); err == nil || !contains(err, `no key "password"`) {
		t.Errorf("a Secret without password: %v", err)
	}
	if _, _, err := p.Value(t.Context(), Query{Text: "from=-1min", Interval: time.Minute, Now: now}); err == nil || !contains(err, "no target=") {
		t.Errorf("a query without a target: %v", err)
	}
}

func TestGraphiteReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "graphite", Address: srv.URL})
	checkReplies(t, s, p, Query{Text: "target=x", Interval: time.Minute, Now: now}, []replyCase{
		{name: "the last point", reply: reply{body: `[{"target":"x","tags":{"name":"x"},"datapoints":[[99.0,1700000540],[97.5,1700000600],[null,1700000660]]}]`}, want: 97.5, wantOK: true},
		{name: "no series is no data", reply: reply{body: `[]`}},
		{name: "only nulls is no data", reply: reply{body: `[{"target":"x","datapoints":[[null,1700000540],[null,1700000600]]}]`}},
		{name: "a series with nulls beside one with points", reply: reply{body: `[{"target":"a","datapoints":[[null,1]]},{"target":"b","datapoints":[[4,1]]}]`}, want: 4, wantOK: true},
		{name: "several series", reply: reply{body: `[{"target":"a","datapoints":[[1,1]]},{"target":"b","datapoints":[[2,1]]}]`}, wantMsg: "2 series with points"},
		{name: "unknown function", reply: reply{status: 400, body: `Invalid parameters (Received request for unknown function: nosuch); targets: "nosuch(x)"`}, wantErr: ErrRefused, wantMsg: "unknown function: nosuch"},
		{name: "bad credentials", reply: reply{status: 401, body: `Unauthorized`}, wantErr: ErrCredentials},
		{name: "throttled", reply: reply{status: 429}, wantErr: ErrThrottled},
		{name: "HTML", reply: reply{body: `<html><body>Graphite</body></html>`}, wantErr: ErrMalformed},
	})
}
