package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestProxyCommandAdminAndStat(t *testing.T) {
	backend := func(name string, status int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	primary, canary := backend("primary", 200), backend("canary", 503)
	admin, listen := freeLoopbackAddr(t), freeLoopbackAddr(t)
	routes := func(wp, wc int) string {
		return fmt.Sprintf(`routes:
- name: podinfo
  listen: %s
  backends:
  - {name: primary, namespace: test, deployment: podinfo-primary, weight: %d, endpoints: [%s]}
  - {name: canary, namespace: test, deployment: podinfo, weight: %d, endpoints: [%s]}
`, listen, wp, primary.Listener.Addr(), wc, canary.Listener.Addr())
	}
	file := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(file, []byte("admin: "+admin+"\n"+routes(100, 0)), 0o600); err != nil {
		t.Fatal(err)
	}

	tokenFile := filepath.Join(t.TempDir(), "admin.token") // created by the command
	startProxyCommand(t, "proxy", "--config", file, "--drain-timeout", "5s", "--admin-token-file", tokenFile)
	base := "http://" + admin
	waitReady(t, http.DefaultClient, base)
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Fatalf("generated token file: %v, %v", fi, err)
	}
	token, _ := os.ReadFile(tokenFile)

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	putAs := func(auth, query, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, base+"/routes"+query, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	put := func(body string) (int, string) {
		t.Helper()
		return putAs("Bearer "+strings.TrimSpace(string(token)), "", body)
	}

	// Writes need the token; the routes stay as they are without it.
	for _, auth := range []string{"", "Bearer wrong", strings.TrimSpace(string(token))} {
		if code, body := putAs(auth, "", routes(0, 100)); code != http.StatusUnauthorized {
			t.Fatalf("PUT /routes with Authorization %q: %d %s, want 401", auth, code, body)
		}
	}
	// An empty route table only when forced.
	if code, body := put("routes: []\n"); code != http.StatusBadRequest || !strings.Contains(body, "force=true") {
		t.Fatalf("PUT of no routes: %d %s, want 400 naming force", code, body)
	}
	// Field paths in errors of the file's shape.
	if code, body := put(strings.Replace(routes(1, 0), "weight: 0", `weight: "ten"`, 1)); code != http.StatusBadRequest ||
		!strings.Contains(body, `routes[0].backends[1].weight: must be an integer, got the string \"ten\"`) {
		t.Fatalf("PUT of a weight that is not a number: %d %s", code, body)
	}
	if code, _ := get(base + "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --pprof: %d, want 404", code)
	}
	for range 10 {
		if code, body := get("http://" + listen + "/"); code != 200 || body != "primary" {
			t.Fatalf("through the proxy: %d %q", code, body)
		}
	}

	// A bad config: 400 with the reasons, the old config stays.
	code, body := put(strings.Replace(routes(0, 0), "name: canary", "name: primary", 1))
	if code != http.StatusBadRequest || !strings.Contains(body, `routes[0].backends[1].name: duplicates backends[0].name \"primary\"`) ||
		!strings.Contains(body, "routes[0].backends: the weights must not all be 0") {
		t.Fatalf("bad PUT /routes: %d %s", code, body)
	}
	if code, body := get("http://" + listen + "/"); code != 200 || body != "primary" {
		t.Fatalf("after a bad config: %d %q", code, body)
	}
	// A good one takes effect: everything to the failing canary. It
	// may be the whole file --config reads.
	if code, body := put("admin: " + admin + "\n" + routes(0, 100)); code != 200 {
		t.Fatalf("PUT /routes: %d %s", code, body)
	}
	for range 5 {
		if code, _ := get("http://" + listen + "/"); code != 503 {
			t.Fatalf("after the flip: %d", code)
		}
	}
	if _, body := get(base + "/routes"); !strings.Contains(body, `"weight": 100`) {
		t.Errorf("GET /routes: %s", body)
	}
	_, metrics := get(base + "/metrics")
	for _, want := range []string{
		`response_total{classification="success",deployment="podinfo-primary",direction="inbound",namespace="test",status_code="200"} 11`,
		`response_total{classification="failure",deployment="podinfo",direction="inbound",namespace="test",status_code="503"} 5`,
		`response_latency_ms_bucket{deployment="podinfo",direction="inbound",namespace="test",le="+Inf"} 5`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	out, _, err := runCLI(t, "", "stat", "--proxy", admin)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SUCCESS RPS LATENCY_P50 LATENCY_P95 LATENCY_P99" {
		t.Fatalf("stat table:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "podinfo" || f[1] != "0.00%" {
		t.Errorf("canary row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "podinfo-primary" || f[1] != "100.00%" {
		t.Errorf("primary row: %q", lines[2])
	}
	out, _, err = runCLI(t, "", "stat", "--proxy", admin, "-o", "wide")
	if err != nil || !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "REQUESTS") {
		t.Errorf("wide: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "", "stat", "--proxy", admin, "-o", "json", "-t", "5m")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Deployment string   `json:"deployment"`
		Requests   int64    `json:"requests"`
		Failures   int64    `json:"failures"`
		P99        *float64 `json:"latencyP99Ms"`
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(out))).Decode(&rows); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0].Requests != 5 || rows[0].Failures != 5 || rows[1].Requests != 11 || rows[1].P99 == nil {
		t.Errorf("json rows: %+v", rows)
	}
	if _, _, err := runCLI(t, "", "stat", "--proxy", admin, "-o", "yaml"); err == nil {
		t.Error("-o yaml accepted")
	}
}

// startProxyCommand runs `serin ARGS` until the test ends and returns its
// stderr so far, on each call.
func startProxyCommand(t *testing.T, args ...string) func() string {
	t.Helper()
	var (
		mu     sync.Mutex
		stderr bytes.Buffer
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := NewRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(writerFunc(func(b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return stderr.Write(b)
		}))
		root.SetArgs(args)
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serin %s: %v", strings.Join(args, " "), err)
		}
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return stderr.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// waitReady polls the admin API at base until it is ready.
func waitReady(t *testing.T, client *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The admin API listens on a unix socket only the user can use, writes
// its generated token to a private file in the runtime directory, serves
// pprof when asked, removes every route only when forced, and warns when
// it listens off loopback.
func TestProxyCommandAdminSocketTokenAndWarning(t *testing.T) {
	runtimeDir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	config := func() string { // a route of its own for each command
		file := filepath.Join(t.TempDir(), "proxy.yaml")
		route := fmt.Sprintf("routes:\n- {name: a, listen: %q, backends: [{name: b, weight: 1, endpoints: [127.0.0.1:1]}]}\n", freeLoopbackAddr(t))
		if err := os.WriteFile(file, []byte(route), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	sock := filepath.Join(t.TempDir(), "admin.sock")
	stderr := startProxyCommand(t, "proxy", "--config", config(), "--admin", "unix:"+sock, "--pprof", "--drain-timeout", "2s")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	waitReady(t, client, "http://admin")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket: %v, %v, want mode 0600", fi, err)
	}
	tokenFile := filepath.Join(runtimeDir, "serin", "proxy-admin-unix_"+strings.Map(func(r rune) rune {
		if r == '/' || r == '_' {
			return '_'
		}
		return r
	}, sock)+".token")
	if !strings.Contains(stderr(), tokenFile) {
		t.Errorf("the token file's path is not logged:\n%s", stderr())
	}
	token, err := os.ReadFile(tokenFile)
	if fi, serr := os.Stat(tokenFile); err != nil || serr != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated token file: %v, %v", fi, err)
	}
	if out, _, err := runCLI(t, "", "stat", "--proxy", "unix:"+sock); err != nil || !strings.HasPrefix(out, "NAME ") {
		t.Errorf("stat over the unix socket: %v\n%s", err, out)
	}
	resp, err := client.Get("http://admin/debug/pprof/")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /debug/pprof/ with --pprof: %v, %v", resp, err)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://admin/routes?force=true", strings.NewReader("routes: []\n"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("forced PUT of no routes: %v, %v", resp, err)
	}
	if resp, err := client.Get("http://admin/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with no routes: %v, %v", resp, err)
	}

	// Off loopback: a warning, loud.
	open := startProxyCommand(t, "proxy", "--config", config(), "--admin", "0.0.0.0:0", "--admin-token", "secret", "--drain-timeout", "2s")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(open(), "proxy started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(open(), "level=WARN msg=\"THE ADMIN API IS NOT ON LOOPBACK") {
		t.Errorf("no warning for an admin API on 0.0.0.0:\n%s", open())
	}
}
