package providers

import (
	"net/http"
	"testing"
	"time"
)

func TestDynatraceRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "dynatrace", Address: srv.URL + "/e/abc123", Secret: secret("dynatrace_token", "dt0c01.TOKEN")})
	s.set(reply{body: `{"totalCount":0,"result":[]}`})
	const q = `builtin:service.response.time:filter(eq(dt.entity.service,SERVICE-ABC)):percentile(95)`
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: 30 * time.Second, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodGet || r.path != "/e/abc123/api/v2/metrics/query" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	wantQuery(t, r.query, map[string]string{"metricSelector": q, "resolution": "Inf", "from": "1700000300000", "to": "1700000600000"})
	if got := r.header.Get("Authorization"); got != "Api-Token dt0c01.TOKEN" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestDynatraceReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "dynatrace", Address: srv.URL, Secret: secret("dynatrace_token", "t")})
	result := func(data string) string {
		return `{"totalCount":1,"nextPageKey":null,"resolution":"Inf","result":[{"metricId":"builtin:service.response.time:percentile(95)",` +
			`"dataPointCountRatio":0.0036,"dimensionCountRatio":0.0001,"data":` + data + `}]}`
	}
	checkReplies(t, s, p, Query{Text: "m", Interval: time.Minute, Now: now}, []replyCase{
		{name: "one value", reply: reply{body: result(`[{"dimensions":[],"dimensionMap":{},"timestamps":[1700000600000],"values":[253.4]}]`)}, want: 253.4, wantOK: true},
		{name: "null value is no data", reply: reply{body: result(`[{"dimensions":[],"timestamps":[1700000600000],"values":[null]}]`)}},
		{name: "no series is no data", reply: reply{body: result(`[]`)}},
		{name: "no metric is no data", reply: reply{body: `{"totalCount":0,"result":[]}`}},
		{name: "several series", reply: reply{body: result(`[{"dimensions":["A"],"values":[1]},{"dimensions":["B"],"values":[2]}]`)}, wantMsg: "returned 2 series"},
		{name: "bad selector", reply: reply{status: 400, body: `{"error":{"code":400,"message":"Constraints violated.","constraintViolations":[]}}`}, wantErr: ErrRefused, wantMsg: "Constraints violated."},
		{name: "bad token", reply: reply{status: 401, body: `{"error":{"code":401,"message":"Token Authentication failed"}}`}, wantErr: ErrCredentials, wantMsg: "Token Authentication failed"},
		{name: "throttled", reply: reply{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{"error":{"code":429,"message":"Too Many Requests"}}`}, wantErr: ErrThrottled, wantMsg: "retry after 30"},
		{name: "malformed", reply: reply{body: `{"result":"no"}`}, wantErr: ErrMalformed},
	})
}
