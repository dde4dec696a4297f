package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadKeepsItsRateWhenSlow sends 50 requests/s to a server that takes
// 200ms to answer, with one stream: a closed loop would manage 5/s.
func TestLoadKeepsItsRateWhenSlow(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		time.Sleep(200 * time.Millisecond)
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1100*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	var reports []Report
	err := RunLoad(ctx, LoadOptions{URL: srv.URL, QPS: 50, Concurrency: 1, Interval: 500 * time.Millisecond, Report: func(r Report) {
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Load(); n < 40 {
		t.Errorf("server got %d requests in 1.1s at 50/s, want at least 40 (open loop)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 || reports[1].Good < 15 || reports[1].P50 < 150*time.Millisecond {
		t.Errorf("reports = %+v, want about 25 good requests of ~200ms per interval", reports)
	}
}

func TestSummarize(t *testing.T) {
	r := summarize(time.Time{}, []outcome{{code: 200, latency: 10 * time.Millisecond}, {code: 500, latency: 30 * time.Millisecond}, {}, {code: 404, latency: 20 * time.Millisecond}})
	if r.Requests != 4 || r.Good != 2 || r.Bad != 1 || r.Failed != 1 {
		t.Errorf("counts = %+v", r)
	}
	if r.Min != 10*time.Millisecond || r.Max != 30*time.Millisecond || r.SuccessRate() != 50 {
		t.Errorf("latencies or rate = %+v %v", r, r.SuccessRate())
	}
	if !strings.Contains(r.String(), "2/1/1") {
		t.Errorf("String = %q", r.String())
	}
}

func TestViewRendering(t *testing.T) {
	if got := Bar(30, 10); got != "[###-------]" {
		t.Errorf("Bar(30) = %q", got)
	}
	if got := Bar(150, 4); got != "[####]" {
		t.Errorf("Bar(150) = %q", got)
	}
	var b strings.Builder
	v := NewLiveView(&b, 60)
	long := "Advance podinfo.test canary weight 20: " + strings.Repeat("request-success-rate 100% >= 99% (n=1), ", 3)
	f := Frame{Phase: "Progressing", Weight: 20, MaxWeight: 100, Decisions: []string{"advance", long}}
	v.Draw(f)
	v.Draw(f)
	if !strings.Contains(b.String(), "\x1b[8A\x1b[J") {
		t.Errorf("second draw does not move up over the first: %q", b.String())
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if n := len([]rune(strings.TrimPrefix(l, "\x1b[8A\x1b[J"))); n >= 60 {
			t.Errorf("line of %d runes wraps a 60-column terminal: %q", n, l)
		}
	}
	s := Summary{Promoted: true, Phase: "Succeeded", Duration: 12 * time.Second, Served: []Side{{Version: "primary", Requests: 5}}, Failures: 0}
	if !strings.Contains(s.String(), "Release promoted") || !strings.Contains(s.String(), "requests served by primary:  5") {
		t.Errorf("summary = %q", s.String())
	}
}

// TestLoadRequestsClosedLoop sends a fixed number of POSTs with a body and
// headers, as fast as they are answered, and ends by itself.
func TestLoadRequestsClosedLoop(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		mu.Lock()
		got = append(got, r.Method+" "+r.Host+" "+r.Header.Get("X-Test")+" "+string(b[:n]))
		mu.Unlock()
		if r.URL.Path == "/fail" {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	var sum Report
	err := RunLoad(context.Background(), LoadOptions{
		URL: srv.URL + "/fail", Method: "POST", Header: http.Header{"X-Test": {"yes"}}, Body: []byte("hello"),
		Host: "podinfo.test", Concurrency: 3, Requests: 7, Summary: func(r Report) { sum = r },
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 7 {
		t.Fatalf("server got %d requests, want 7", len(got))
	}
	for _, g := range got {
		if g != "POST podinfo.test yes hello" {
			t.Fatalf("request = %q", g)
		}
	}
	if sum.Requests != 7 || sum.Bad != 7 {
		t.Errorf("summary = %+v, want 7 bad requests", sum)
	}
}

func TestLoadSummaryNamesTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var sum Report
	if err := RunLoad(context.Background(), LoadOptions{URL: url, Concurrency: 1, Requests: 2, Summary: func(r Report) { sum = r }}); err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 2 || !strings.Contains(sum.LastError, "refused") {
		t.Errorf("summary = %+v, want 2 failures naming the refused connection", sum)
	}
}
