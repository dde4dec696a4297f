package loadtester

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/serinhq/serin/internal/hooks"
)

// startServer serves a loadtester for the test.
func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs.URL
}

// post sends body to url with headers (name, value pairs) and returns the
// status and the answer.
func post(t *testing.T, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const podinfo = `{"name":"podinfo","namespace":"test"}`

func taskBody(md string) string {
	return `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"abc","metadata":` + md + `}`
}

func TestGates(t *testing.T) {
	_, url := startServer(t, Options{})
	other := `{"name":"other","namespace":"test"}`
	steps := []struct {
		path, body string
		want       int
	}{
		{"/gate/approve", "", 200},
		{"/gate/halt", podinfo, 403},
		{"/gate/check", podinfo, 403},
		{"/rollback/check", podinfo, 403},
		{"/gate/open", podinfo, 202},
		{"/gate/check", podinfo, 200},
		{"/gate/check", other, 403},                                   // keyed by Canary
		{"/gate/check", `{"name":"podinfo","namespace":"prod"}`, 403}, // and namespace
		{"/rollback/check", podinfo, 403},                             // a separate gate
		{"/rollback/open", podinfo, 202},
		{"/rollback/check", podinfo, 200},
		{"/gate/close", podinfo, 202},
		{"/gate/check", podinfo, 403},
		{"/rollback/close", podinfo, 202},
		{"/rollback/check", podinfo, 403},
		{"/gate/check", "not json", 400},
		{"/gate/open", `{"name":"podinfo"}`, 400},
	}
	for _, st := range steps {
		if code, body := post(t, url+st.path, st.body); code != st.want {
			t.Fatalf("POST %s %s = %d %q, want %d", st.path, st.body, code, body, st.want)
		}
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz = %v, %v", resp, err)
	}
	resp.Body.Close()
}

// target counts the requests it gets and what they looked like.
type target struct {
	*httptest.Server
	n    atomic.Int64
	mu   sync.Mutex
	last string
}

func startTarget(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.n.Add(1)
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.last = r.Method + " " + r.Host + " " + r.Header.Get("Content-Type") + " " + r.Header.Get("X-Team") + " " + string(b)
		tg.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(tg.Close)
	return tg
}

func TestTaskHeyBlocking(t *testing.T) {
	s, url := startServer(t, Options{})
	tg := startTarget(t, nil)
	cmd := `hey -n 20 -c 2 -m POST -T application/json -H 'X-Team: web' -d '{\"a\":1}' -host podinfo.test ` + tg.URL + `/echo`
	code, body := post(t, url+"/", taskBody(`{"cmd":"`+cmd+`"}`))
	if code != 200 || !strings.Contains(body, "20 requests") {
		t.Fatalf("answer = %d %q, want 200 with a summary of 20 requests", code, body)
	}
	if n := tg.n.Load(); n != 20 {
		t.Errorf("target got %d requests, want 20", n)
	}
	if want := `POST podinfo.test application/json web {"a":1}`; tg.last != want {
		t.Errorf("request = %q, want %q", tg.last, want)
	}
	if v := testutil.ToFloat64(s.metrics.tasks.WithLabelValues("hey", "ok")); v != 1 {
		t.Errorf("tasks ok = %v", v)
	}
}

func TestTaskFailuresAndRefusals(t *testing.T) {
	_, url := startServer(t, Options{AllowCommands: []string{"true", "false"}})
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	tests := []struct {
		name, md string
		want     int
		wantBody string
	}{
		{"hey at nothing", `{"cmd":"hey -n 2 -c 1 ` + goneURL + `"}`, 500, "no request to " + goneURL},
		{"bad hey flag", `{"cmd":"hey -zz 1s http://x/"}`, 400, "flag provided but not defined: -zz"},
		{"hey without URL", `{"cmd":"hey -z 1s"}`, 400, "no URL"},
		{"hey with shell syntax", `{"cmd":"hey -n 1 -c 1 http://x/ && rm -rf /"}`, 400, "unexpected arguments"},
		{"open quote", `{"cmd":"hey -H 'X: y http://x/"}`, 400, "unterminated"},
		{"command not allowed", `{"cmd":"curl -sf http://x/"}`, 403, `name "curl" in --allow-command`},
		{"bash not allowed", `{"type":"bash","cmd":"true"}`, 403, "--allow-exec"},
		{"unknown type", `{"type":"ngrinder","cmd":"x"}`, 400, `task type "ngrinder" is not supported`},
		{"no cmd", `{"type":"cmd"}`, 400, "cmd is missing"},
		{"no metadata", `null`, 400, "cmd is missing"},
		{"bad boolean", `{"cmd":"true","logCmdOutput":"maybe"}`, 400, "logCmdOutput"},
		{"allowed command", `{"cmd":"true"}`, 200, "OK"},
		{"allowed command failing", `{"cmd":"false"}`, 500, `command "false": exit status 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, url+"/", taskBody(tt.md))
			if code != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Errorf("answer = %d %q, want %d with %q", code, body, tt.want, tt.wantBody)
			}
		})
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET / = %d, want 405", resp.StatusCode)
	}
}

func TestTaskAllowExec(t *testing.T) {
	_, url := startServer(t, Options{AllowExec: true})
	code, body := post(t, url+"/", taskBody(`{"cmd":"echo out-$((1+1)) && echo err >&2 && exit 3"}`))
	if code != 500 || !strings.Contains(body, "exit status 3") || !strings.Contains(body, "out-2") || !strings.Contains(body, "err") {
		t.Errorf("answer = %d %q, want 500 with the exit status and the output", code, body)
	}
	code, body = post(t, url+"/", taskBody(`{"cmd":"echo acceptance passed | tr a-z A-Z","returnCmdOutput":"true"}`))
	if code != 200 || strings.TrimSpace(body) != "ACCEPTANCE PASSED" {
		t.Errorf("answer = %d %q, want 200 with the output", code, body)
	}
	code, body = post(t, url+"/", taskBody(`{"type":"bash","cmd":"[[ 1 == 1 ]]"}`))
	if code != 200 {
		t.Errorf("bash answer = %d %q, want 200", code, body)
	}
}

// TestRolloutRunsInBackground: a rollout webhook's load is answered at
// once and runs once per Canary and command; Close stops it.
func TestRolloutRunsInBackground(t *testing.T) {
	s, url := startServer(t, Options{})
	tg := startTarget(t, nil)
	load := taskBody(`{"cmd":"hey -z 1h -q 50 -c 1 ` + tg.URL + `/"}`)
	rollout := []string{hooks.TypeHeader, "rollout"}
	code, body := post(t, url+"/", load, rollout...)
	if code != 202 || !strings.HasPrefix(body, "started") {
		t.Fatalf("first call = %d %q, want 202 started", code, body)
	}
	code, body = post(t, url+"/", load, rollout...)
	if code != 202 || !strings.HasPrefix(body, "already running") {
		t.Fatalf("second call = %d %q, want 202 already running", code, body)
	}
	other := strings.Replace(load, `"podinfo"`, `"other"`, 1)
	if code, body = post(t, url+"/", other, rollout...); code != 202 || !strings.HasPrefix(body, "started") {
		t.Fatalf("another Canary's call = %d %q, want 202 started", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tg.n.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("the background load sent %d requests in 10s", tg.n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := testutil.ToFloat64(s.metrics.tasks.WithLabelValues("hey", "skipped")); v != 1 {
		t.Errorf("skipped tasks = %v, want 1", v)
	}
	s.Close() // returns once the loads have stopped
	s.mu.Lock()
	n := len(s.running)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d tasks still running after Close", n)
	}
	// Another type than rollout blocks.
	code, body = post(t, url+"/", taskBody(`{"cmd":"hey -n 3 -c 1 `+tg.URL+`/"}`), hooks.TypeHeader, "pre-rollout")
	if code != 200 || !strings.Contains(body, "3 requests") {
		t.Errorf("pre-rollout call = %d %q, want 200 after 3 requests", code, body)
	}
}

func TestToken(t *testing.T) {
	_, url := startServer(t, Options{Token: "s3cret"})
	for _, path := range []string{"/", "/gate/check", "/gate/approve", "/rollback/open"} {
		if code, _ := post(t, url+path, podinfo); code != 401 {
			t.Errorf("%s without a token = %d, want 401", path, code)
		}
		if code, _ := post(t, url+path, podinfo, "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("%s with a wrong token = %d, want 401", path, code)
		}
	}
	for _, h := range []string{"Bearer s3cret", "bearer s3cret"} {
		if code, body := post(t, url+"/gate/approve", podinfo, "Authorization", h); code != 200 {
			t.Errorf("%s: %d %q", h, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/gate/open", strings.NewReader(podinfo))
	req.SetBasicAuth("serin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Errorf("token as basic auth password: %d, want 202", resp.StatusCode)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s without a token = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestHeyDial: with Options.Dial, hey's requests are dialled through it,
// as serin run's Kubernetes names are.
func TestHeyDial(t *testing.T) {
	var got atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "podinfo-canary.test:9898" {
			got.Add(1)
		}
	}))
	defer app.Close()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "podinfo-canary.test:9898" {
			addr = app.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	_, url := startServer(t, Options{Dial: dial})
	code, body := post(t, url+"/", taskBody(`{"cmd":"hey -n 4 -c 1 http://podinfo-canary.test:9898/"}`))
	if code != 200 || got.Load() != 4 {
		t.Fatalf("answered %d %q; the app got %d requests for its name, want 4", code, body, got.Load())
	}
}
