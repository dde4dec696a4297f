package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startLoadtester runs `serin loadtester` on a free port with args and
// returns its URL once it is healthy.
func startLoadtester(t *testing.T, bin string, args ...string) (string, *started) {
	t.Helper()
	port := freePort(t)
	p := start(t, bin, append([]string{"loadtester", "--port", fmt.Sprint(port)}, args...)...)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 20*time.Second, "the loadtester's /healthz", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url, p
}

// postJSON posts body to url, with an optional bearer token, and returns
// the status and the answer.
func postJSON(t *testing.T, url, body, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLoadtester is the loadtester's acceptance check, against a real
// `serin loadtester` process: a blocking hey task sends its load and is
// answered 200, and the gates start closed and open on request.
func TestLoadtester(t *testing.T) {
	bin := serin(t)
	var got atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	defer target.Close()
	url, lt := startLoadtester(t, bin)

	start := time.Now()
	code, body := postJSON(t, url+"/", fmt.Sprintf(`{"name":"podinfo","namespace":"test","metadata":{"cmd":"hey -z 5s -q 10 -c 2 %s/"}}`, target.URL), "")
	took := time.Since(start)
	if code != http.StatusOK {
		t.Fatalf("POST / = %d %q, want 200", code, body)
	}
	// 2 workers at 10 requests/s for 5s; a loaded machine may drop a few
	// ticks. The call blocks for the load's duration.
	if n := got.Load(); n < 80 || n > 105 {
		t.Errorf("target got %d requests, want about 100", n)
	}
	if took < 5*time.Second {
		t.Errorf("POST / answered after %v, before the 5s of load were over", took)
	}
	t.Logf("answer: %s", body)

	podinfo := `{"name":"podinfo","namespace":"test"}`
	for _, st := range []struct {
		path string
		want int
	}{
		{"/gate/check", 403}, {"/gate/open", 202}, {"/gate/check", 200},
		{"/rollback/check", 403}, {"/rollback/open", 202}, {"/rollback/check", 200},
		{"/gate/close", 202}, {"/gate/check", 403},
		{"/gate/approve", 200}, {"/gate/halt", 403},
	} {
		if code, body := postJSON(t, url+st.path, podinfo, ""); code != st.want {
			t.Fatalf("POST %s = %d %q, want %d", st.path, code, body, st.want)
		}
	}

	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `serin_loadtester_tasks_total{kind="hey",result="ok"} 1`) {
		t.Errorf("/metrics does not count the hey task:\n%s", metrics)
	}
	if err := lt.interrupt(t); err != nil {
		t.Errorf("serin loadtester after SIGINT: %v", err)
	}
}

func TestLoadtesterToken(t *testing.T) {
	bin := serin(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startLoadtester(t, bin, "--token-file", file)
	podinfo := `{"name":"podinfo","namespace":"test"}`
	if code, _ := postJSON(t, url+"/gate/open", podinfo, ""); code != http.StatusUnauthorized {
		t.Errorf("/gate/open without the token = %d, want 401", code)
	}
	if code, _ := postJSON(t, url+"/gate/open", podinfo, "s3cret"); code != http.StatusAccepted {
		t.Errorf("/gate/open with the token = %d, want 202", code)
	}
	if code, _ := postJSON(t, url+"/gate/check", podinfo, "s3cret"); code != http.StatusOK {
		t.Errorf("/gate/check with the token after open = %d, want 200", code)
	}
}
