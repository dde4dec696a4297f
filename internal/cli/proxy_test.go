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

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := NewRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"proxy", "--config", file, "--drain-timeout", "5s"})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serin proxy: %v", err)
		}
	}()
	base := "http://" + admin
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

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
	put := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, base+"/routes", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
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
	// A good one takes effect: everything to the failing canary.
	if code, body := put(routes(0, 100)); code != 200 {
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
