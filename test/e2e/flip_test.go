package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	requests = flag.Int("proxy.requests", 20000, "how many requests TestWeightFlips sends (docs/reliability.md: 1000000)")
	flips    = flag.Int("proxy.flips", 20, "how many times TestWeightFlips flips the route between the backends (docs/reliability.md: 1000)")
	clients  = flag.Int("proxy.clients", 16, "TestWeightFlips' concurrent keep-alive clients")
)

// TestWeightFlips sends -proxy.requests requests through the serin-proxy
// binary from -proxy.clients keep-alive connections while another client
// flips the route -proxy.flips times between all-primary and all-canary
// through the admin API. No request may meet a connection error or go
// unanswered, and none sent after a flip's PUT returned and answered before
// the next PUT began may be answered by the other version.
//
//	go test ./test/e2e/ -run TestWeightFlips -v -proxy.requests=1000000 -proxy.flips=1000
func TestWeightFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	if *requests < *flips+1 || *clients < 1 {
		t.Fatalf("-proxy.requests=%d must exceed -proxy.flips=%d, -proxy.clients=%d be at least 1", *requests, *flips, *clients)
	}
	bin := buildProxy(t)
	versions := [2]string{"primary", "canary"}
	var backends [2]string
	for i, v := range versions {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, v)
		}))
		t.Cleanup(s.Close)
		backends[i] = s.Listener.Addr().String()
	}
	listen, admin := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	routes := func(to int) []byte { // all traffic to versions[to]
		return fmt.Appendf(nil, `routes:
- name: podinfo
  listen: %s
  backends:
  - {name: primary, namespace: test, deployment: podinfo-primary, weight: %d, endpoints: [%s]}
  - {name: canary, namespace: test, deployment: podinfo, weight: %d, endpoints: [%s]}
`, listen, 1-to, backends[0], to, backends[1])
	}
	dir := t.TempDir()
	config, tokenFile := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "token")
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(token)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, routes(0), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := start(t, bin, "--config", config, "--admin", admin, "--admin-token-file", tokenFile)
	readyProxy(t, proxy, admin)

	// epoch is even while the route is stable, with all traffic to
	// versions[epoch/2%2], and odd while a PUT is under way.
	var epoch atomic.Int64
	var sent, answered, connErrors, wrong, checked atomic.Int64
	var byVersion [2]atomic.Int64
	var firstProblem atomic.Value
	problem := func(format string, args ...any) {
		firstProblem.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	}
	// A flip is due each time another requests/(flips+1) are answered.
	due := make(chan struct{}, *flips+1)
	per := int64(*requests / (*flips + 1))

	var next atomic.Int64 // requests handed out
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for next.Add(1) <= int64(*requests) {
				sent.Add(1)
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", listen); err != nil {
						connErrors.Add(1)
						problem("dial: %v", err)
						c = nil
						continue
					}
					br = bufio.NewReader(c)
				}
				e1 := epoch.Load()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: podinfo\r\n\r\n")
				var resp *http.Response
				if err == nil {
					resp, err = http.ReadResponse(br, nil)
				}
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					connErrors.Add(1)
					problem("request: %v", err)
					c.Close()
					c = nil
					continue
				}
				e2 := epoch.Load()
				switch {
				case resp.StatusCode != http.StatusOK || (string(body) != versions[0] && string(body) != versions[1]):
					problem("answer %d %q", resp.StatusCode, body)
				default:
					n := answered.Add(1)
					if string(body) == versions[0] {
						byVersion[0].Add(1)
					} else {
						byVersion[1].Add(1)
					}
					if e1 == e2 && e1%2 == 0 {
						checked.Add(1)
						if string(body) != versions[e1/2%2] {
							wrong.Add(1)
							problem("a request sent and answered while the route sent everything to %s was answered by %s", versions[e1/2%2], body)
						}
					}
					if n%per == 0 {
						select {
						case due <- struct{}{}:
						default:
						}
					}
				}
				if resp.Close {
					c.Close()
					c = nil
				}
			}
		}()
	}

	flipped := make(chan int)
	go func() {
		n := 0
		defer func() { flipped <- n }()
		client := &http.Client{Timeout: 30 * time.Second}
		for n < *flips {
			if _, ok := <-due; !ok {
				return
			}
			to := (n + 1) % 2
			epoch.Add(1) // odd: a PUT is under way
			req, _ := http.NewRequest(http.MethodPut, "http://"+admin+"/routes", bytes.NewReader(routes(to)))
			req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(token))
			resp, err := client.Do(req)
			if err != nil {
				problem("flip %d: PUT /routes: %v", n+1, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				problem("flip %d: PUT /routes: %d %s", n+1, resp.StatusCode, b)
				return
			}
			epoch.Add(1) // even: the route sends everything to versions[to]
			n++
		}
	}()
	wg.Wait()
	close(due)
	nFlips := <-flipped
	took := time.Since(start)

	t.Logf("%d requests from %d keep-alive clients in %s (%.0f/s) while the route flipped %d times: "+
		"%d answered (primary %d, canary %d), %d connection errors, %d lost, %d checked against the route in effect, %d answered by the wrong version",
		sent.Load(), *clients, took.Round(time.Millisecond), float64(sent.Load())/took.Seconds(), nFlips,
		answered.Load(), byVersion[0].Load(), byVersion[1].Load(), connErrors.Load(), sent.Load()-answered.Load(), checked.Load(), wrong.Load())
	if p := firstProblem.Load(); p != nil {
		t.Errorf("first problem: %s", p)
	}
	if connErrors.Load() != 0 || sent.Load() != answered.Load() || wrong.Load() != 0 {
		t.Errorf("%d connection errors, %d lost, %d answered by the wrong version; want none", connErrors.Load(), sent.Load()-answered.Load(), wrong.Load())
	}
	if err := proxy.interrupt(t); err != nil {
		t.Errorf("serin-proxy exited with %v after SIGINT, want status 0", err)
	}
	if nFlips != *flips {
		t.Errorf("%d flips, want %d", nFlips, *flips)
	}
	if sent.Load() != int64(*requests) {
		t.Errorf("%d requests sent, want %d", sent.Load(), *requests)
	}
	if *flips > 0 && (byVersion[0].Load() == 0 || byVersion[1].Load() == 0 || checked.Load() == 0) {
		t.Errorf("primary answered %d, canary %d, %d checked: the flips did not move the traffic", byVersion[0].Load(), byVersion[1].Load(), checked.Load())
	}
}

// buildProxy builds cmd/serin-proxy into the test's temporary directory.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "serin-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/serinhq/serin/cmd/serin-proxy").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// readyProxy waits until the proxy's admin API says it is ready.
func readyProxy(t *testing.T, p *started, admin string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, 30*time.Second, "serin-proxy ready", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("serin-proxy exited before it was ready: %v\n%s", p.err, p.out.String())
		default:
		}
		resp, err := client.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
