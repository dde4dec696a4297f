package providers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestInfluxDBRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "influxdb", Address: srv.URL, Secret: secret("token", "my-token", "org", "my-org")})
	s.set(reply{body: "\r\n"})
	const q = `from(bucket: "default") |> range(start: -2h) |> count()`
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodPost || r.path != "/api/v2/query" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	wantQuery(t, r.query, map[string]string{"org": "my-org"})
	if r.header.Get("Authorization") != "Token my-token" || r.header.Get("Content-Type") != "application/json" || r.header.Get("Accept") != "application/csv" {
		t.Errorf("headers = %v", r.header)
	}
	var body struct {
		Query   string `json:"query"`
		Type    string `json:"type"`
		Dialect struct {
			Annotations []string `json:"annotations"`
		} `json:"dialect"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Query != q || body.Type != "flux" || len(body.Dialect.Annotations) != 3 {
		t.Errorf("body = %s (%v)", r.body, err)
	}
	if _, err := New(Config{Type: "influxdb", Address: srv.URL, Secret: secret("token", "t")}); err == nil || !contains(err, `no key "org"`) {
		t.Errorf("a Secret without org: %v", err)
	}
}

func TestInfluxDBReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "influxdb", Address: srv.URL})
	const head = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,string,string,%s\r\n" +
		"#group,false,false,true,true,true,true,false\r\n#default,_result,,,,,,\r\n" +
		",result,table,_start,_stop,_field,_measurement,_value\r\n"
	row := func(v string) string {
		return ",,0,2023-11-14T22:03:20Z,2023-11-14T22:13:20Z,success_rate,http," + v + "\r\n"
	}
	csv := func(datatype string, rows ...string) reply {
		body := strings.Replace(head, "%s", datatype, 1)
		for _, r := range rows {
			body += r
		}
		return reply{header: map[string]string{"Content-Type": "text/csv; charset=utf-8"}, body: body + "\r\n"}
	}
	checkReplies(t, s, p, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "double", reply: csv("double", row("99.5")), want: 99.5, wantOK: true},
		{name: "long from count()", reply: csv("long", row("42")), want: 42, wantOK: true},
		{name: "no rows is no data", reply: reply{body: "\r\n"}},
		{name: "null is no data", reply: csv("double", row("")), wantOK: false},
		{name: "several rows", reply: csv("double", row("1"), row("2")), wantMsg: "returned 2 rows, want 1"},
		{name: "a string", reply: csv("string", row("up")), wantErr: ErrMalformed, wantMsg: "want a number"},
		{name: "in-band error", reply: reply{body: "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n,failed to execute query: out of memory,897\r\n\r\n"}, wantErr: ErrRefused, wantMsg: "out of memory"},
		{name: "2.x error", reply: reply{status: 400, body: `{"code":"invalid","message":"compilation failed: error at @1:1-1:5: undefined identifier nope"}`}, wantErr: ErrRefused, wantMsg: "invalid compilation failed"},
		{name: "1.8 error in CSV", reply: reply{status: 500, body: "error\r\n\"type error 1:34-1:40: undefined identifier \"\"rangex\"\"\"\r\n"}, wantErr: ErrRefused, wantMsg: `500 Internal Server Error: type error 1:34-1:40: undefined identifier "rangex"`},
		{name: "1.8 error", reply: reply{status: 500, body: `{"error":"type error 1:34-1:40: undefined identifier \"rangex\""}`}, wantErr: ErrRefused, wantMsg: "undefined identifier"},
		{name: "bad token", reply: reply{status: 401, body: `{"code":"unauthorized","message":"unauthorized access"}`}, wantErr: ErrCredentials, wantMsg: "unauthorized access"},
		{name: "quota", reply: reply{status: 429, header: map[string]string{"Retry-After": "5"}, body: `{"code":"too many requests","message":"org exceeded query limits"}`}, wantErr: ErrThrottled, wantMsg: "retry after 5"},
		{name: "not CSV", reply: reply{body: "a,\"b\n"}, wantErr: ErrMalformed},
	})
}
