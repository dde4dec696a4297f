package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build is a binary built once per test run.
type build struct {
	once sync.Once
	path string
	err  error
}

// get builds pkg (an import path or a ./relative one) the first time.
func (b *build) get(t *testing.T, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "serin-e2e-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var serinBuild build

// serin builds the binary once per test run.
func serin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	return serinBuild.get(t, "github.com/serinhq/serin/cmd/serin")
}

// portsHandedOut are the ports freePort has returned in this test binary.
var portsHandedOut sync.Map

// freePort returns a TCP port free on 127.0.0.1 now, and never one it has
// returned before: two calls in a row may otherwise get the same port from
// the kernel, before the process meant to take the first one has.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, taken := portsHandedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// started is a serin process the test stops.
type started struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process ended; err is then set
	err    error
}

func start(t *testing.T, bin string, args ...string) *started {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &started{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("output of serin %s:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return s
}

func (s *started) interrupt(t *testing.T) error {
	t.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatal("serin did not stop within 30s of SIGINT")
		return nil
	}
}

// waitFor polls f until it returns true.
func waitFor(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cli runs a serin command against a state directory and returns its
// output.
func cli(t *testing.T, bin, stateDir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--state-dir", stateDir)...).CombinedOutput()
	return string(out), err
}

type canaryList struct {
	Items []struct {
		Status struct {
			Phase        string `json:"phase"`
			CanaryWeight int    `json:"canaryWeight"`
			FailedChecks int    `json:"failedChecks"`
		} `json:"status"`
	} `json:"items"`
}

func canary(t *testing.T, bin, stateDir string) (phase string, weight, failed int, ok bool) {
	out, err := cli(t, bin, stateDir, "get", "canaries", "-o", "json")
	if err != nil {
		return "", 0, 0, false
	}
	var l canaryList
	if json.Unmarshal([]byte(out), &l) != nil || len(l.Items) != 1 {
		return "", 0, 0, false
	}
	s := l.Items[0].Status
	return s.Phase, s.CanaryWeight, s.FailedChecks, true
}

func pids(t *testing.T, bin, stateDir string) []int {
	t.Helper()
	out, err := cli(t, bin, stateDir, "get", "pods", "-o", "json")
	if err != nil {
		t.Fatalf("get pods: %v\n%s", err, out)
	}
	var l struct {
		Items []struct {
			PIDs []int `json:"pids"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, p := range l.Items {
		all = append(all, p.PIDs...)
	}
	return all
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	waitFor(t, 10*time.Second, "every process to end", func() bool {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				return false
			}
		}
		return true
	})
}

func version(url string) string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var info struct {
		Version string `json:"version"`
	}
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &info) != nil {
		return ""
	}
	return info.Version
}

// getJSON decodes the JSON answer of url into v.
// getJSON GETs url, with "Authorization: Bearer token" when token is set.
func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

var weightLine = regexp.MustCompile(`canary weight (\d+)`)

// weights returns the canary weights the demo's output advanced through.
func weights(out string) []int {
	var ws []int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := weightLine.FindStringSubmatch(sc.Text()); m != nil {
			w, _ := strconv.Atoi(m[1])
			ws = append(ws, w)
		}
	}
	return ws
}

func TestDemo(t *testing.T) {
	bin := serin(t)
	for _, tc := range []struct {
		scenario, result, version string
	}{
		{"default", "Release promoted", "1.7.1"},
		{"faulty", "Release rolled back", "1.7.0"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			state := t.TempDir()
			fport, pport, dport := freePort(t), freePort(t), freePort(t)
			d := start(t, bin, "demo", "--interval=1s", "--scenario="+tc.scenario,
				"--state-dir", state, "--frontend-port", fmt.Sprint(fport), "--podinfo-port", fmt.Sprint(pport),
				"--dashboard", fmt.Sprintf("127.0.0.1:%d", dport))

			waitFor(t, 3*time.Minute, "the summary", func() bool { return strings.Contains(d.out.String(), "failed requests:") })
			out := d.out.String()
			if !strings.Contains(out, tc.result) {
				t.Fatalf("want %q in the summary, got:\n%s", tc.result, out)
			}
			phase, weight, failed, ok := canary(t, bin, state)
			want := map[string]string{"default": "Succeeded", "faulty": "Failed"}[tc.scenario]
			if !ok || phase != want || weight != 0 {
				t.Fatalf("canary from the API: phase %q weight %d, want %s at weight 0", phase, weight, want)
			}
			if tc.scenario == "faulty" && failed < 5 {
				t.Errorf("failed checks = %d, want the threshold 5 reached", failed)
			}
			frontend := fmt.Sprintf("http://127.0.0.1:%d/", fport)
			waitFor(t, 10*time.Second, "the frontend to report "+tc.version, func() bool { return version(frontend) == tc.version })

			// The dashboard the demo serves reads the same state.
			var st struct {
				Canaries []struct {
					Name, Phase string
				}
			}
			// Its address comes with the token its API needs.
			m := regexp.MustCompile(fmt.Sprintf(`http://127\.0\.0\.1:%d/#token=([A-Za-z0-9_-]{43})`, dport)).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the demo printed no dashboard address with a token:\n%s", out)
			}
			getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/api/state", dport), m[1], &st)
			if len(st.Canaries) != 1 || st.Canaries[0].Name != "podinfo" || st.Canaries[0].Phase != want {
				t.Errorf("dashboard /api/state canaries = %+v, want podinfo %s", st.Canaries, want)
			}

			// The faulty revision may fail its first requests and be rolled
			// back at the first step; the healthy one climbs to 100.
			ws := weights(out)
			if len(ws) < 1 || ws[0] != 10 {
				t.Fatalf("weights advanced through %v, want steps of 10 from 10", ws)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i] != ws[i-1]+10 {
					t.Fatalf("weights advanced through %v, want steps of 10", ws)
				}
			}
			if tc.scenario == "default" && ws[len(ws)-1] != 100 {
				t.Errorf("weights advanced through %v, want up to 100", ws)
			}

			running := pids(t, bin, state)
			if len(running) < 3 {
				t.Fatalf("pids %v: want at least podinfo, frontend and load", running)
			}
			if err := d.interrupt(t); err != nil {
				t.Fatalf("serin demo after Ctrl-C: %v", err)
			}
			assertGone(t, running)
		})
	}
}

func TestDemoExit(t *testing.T) {
	bin := serin(t)
	state := t.TempDir()
	d := start(t, bin, "demo", "--interval=1s", "--exit", "--state-dir", state, "--dashboard=",
		"--frontend-port", fmt.Sprint(freePort(t)), "--podinfo-port", fmt.Sprint(freePort(t)))
	select {
	case <-d.exited:
		if d.err != nil {
			t.Fatalf("serin demo --exit: %v\n%s", d.err, d.out.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("serin demo --exit did not exit")
	}
	if !strings.Contains(d.out.String(), "Release promoted") {
		t.Fatalf("no promotion in:\n%s", d.out.String())
	}
}

func TestPortInUse(t *testing.T) {
	bin := serin(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	out, err := exec.Command(bin, "demo", "--exit", "--state-dir", t.TempDir(), "--dashboard=",
		"--frontend-port", fmt.Sprint(port), "--podinfo-port", fmt.Sprint(freePort(t))).CombinedOutput()
	if err == nil {
		t.Fatalf("demo on a port in use succeeded:\n%s", out)
	}
	want := fmt.Sprintf("port %d is already in use", port)
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "--frontend-port") {
		t.Fatalf("want an error naming %q and --frontend-port, got:\n%s", want, out)
	}
}
