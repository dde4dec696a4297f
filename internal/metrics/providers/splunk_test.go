package providers

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestSplunkStreamAddress(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.us1.signalfx.com":    "https://stream.us1.signalfx.com",
		"wss://stream.eu0.signalfx.com":   "https://stream.eu0.signalfx.com",
		"http://127.0.0.1:8080":           "http://127.0.0.1:8080",
		"https://api.jp0.signalfx.com/x/": "https://stream.jp0.signalfx.com/x/",
	} {
		if got := splunkStreamAddress(in); got != want {
			t.Errorf("splunkStreamAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// sse writes SignalFlow messages as the execute endpoint streams them.
const sseStart = "event: control-message\ndata: {\ndata:   \"event\" : \"STREAM_START\",\ndata:   \"timestampMs\" : 1700000000000\ndata: }\n\n" +
	"event: control-message\ndata: {\"event\":\"JOB_START\",\"handle\":\"Ex7h2\",\"timestampMs\":1700000000100}\n\n" +
	"event: metadata\ndata: {\"properties\":{\"sf_key\":[\"sf_metric\"],\"sf_metric\":\"demo.trans.latency\"},\"tsId\":\"AAAAAH3-8Qc\"}\n\n"

const sseEnd = "event: control-message\ndata: {\"event\":\"END_OF_CHANNEL\",\"timestampMs\":1700000600000}\n\n"

func sseData(tsID, value string, ts int) string {
	return "event: data\ndata: {\ndata:   \"data\" : [ {\ndata:     \"tsId\" : \"" + tsID + "\",\ndata:     \"value\" : " + value +
		"\ndata:   } ],\ndata:   \"logicalTimestampMs\" : " + strconv.Itoa(ts) + "\ndata: }\n\n"
}

func TestSplunkRequest(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "splunk", Address: srv.URL, Secret: secret("sf_token_key", "sf-token")})
	s.set(reply{header: map[string]string{"Content-Type": "text/event-stream"}, body: sseStart + sseEnd})
	const q = "data('demo.trans.latency', filter=filter('service', 'podinfo')).mean().publish()"
	if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: time.Minute, Now: now}); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != http.MethodPost || r.path != "/v2/signalflow/execute" || r.body != q {
		t.Errorf("request = %s %s %q", r.method, r.path, r.body)
	}
	wantQuery(t, r.query, map[string]string{"start": "1700000000000", "stop": "1700000600000", "immediate": "true"})
	if r.header.Get("X-SF-Token") != "sf-token" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("headers = %v", r.header)
	}
}

func TestSplunkReplies(t *testing.T) {
	s, srv := newStub(t)
	p := mustNew(t, Config{Type: "splunk", Address: srv.URL, Secret: secret("sf_token_key", "t")})
	stream := func(events ...string) reply {
		body := sseStart
		for _, e := range events {
			body += e
		}
		return reply{header: map[string]string{"Content-Type": "text/event-stream"}, body: body + sseEnd}
	}
	checkReplies(t, s, p, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "the last value", reply: stream(sseData("AAAAAH3-8Qc", "3.5", 1700000060000), sseData("AAAAAH3-8Qc", "4.25", 1700000120000)), want: 4.25, wantOK: true},
		{name: "null values are skipped", reply: stream(sseData("AAAAAH3-8Qc", "3.5", 1700000060000), sseData("AAAAAH3-8Qc", "null", 1700000120000)), want: 3.5, wantOK: true},
		{name: "no data", reply: stream()},
		{name: "several time series", reply: stream(sseData("AAAAAH3-8Qc", "1", 1700000060000), sseData("BBBBBH3-8Qc", "2", 1700000060000)), wantMsg: "published 2 time series"},
		{name: "program error", reply: stream("event: error\ndata: {\"error\":400,\"errorType\":\"ANALYTICS_PROGRAM_ERROR\",\"message\":\"unexpected token\"}\n\n"), wantErr: ErrRefused, wantMsg: "unexpected token"},
		{name: "aborted", reply: stream("event: control-message\ndata: {\"event\":\"CHANNEL_ABORT\",\"abortInfo\":{\"sf_job_abortReason\":\"timeout\"}}\n\n"), wantErr: ErrRefused, wantMsg: "aborted"},
		{name: "bad token", reply: reply{status: 401, body: `{"code":401,"message":"Unauthorized"}`}, wantErr: ErrCredentials, wantMsg: "Unauthorized"},
		{name: "throttled", reply: reply{status: 429, body: `{"message":"Too many requests"}`}, wantErr: ErrThrottled},
		{name: "malformed event", reply: stream("event: data\ndata: {not json\n\n"), wantErr: ErrMalformed},
	})
}
