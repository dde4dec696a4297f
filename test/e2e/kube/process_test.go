package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/testenv"
)

// buildSerin builds ./cmd/serin into a temporary directory and returns the
// binary's path.
func buildSerin(t *testing.T) string {
	t.Helper()
	return goBuild(t, "./cmd/serin", "serin")
}

// goBuild builds the repository's package pkg into a temporary directory
// as name and returns the binary's path.
func goBuild(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, pkg)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a command started in its own process group; the test's
// cleanup kills the group if the test has not stopped it.
type process struct {
	cmd    *exec.Cmd
	out    *testenv.Buffer
	exited chan struct{} // closed when the process has been reaped; err is then set
	err    error
}

// startProcess starts bin with args in a new process group.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &process{cmd: cmd, out: &testenv.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// signal sends sig to the process's group and waits up to timeout for the
// process to exit, returning how it exited.
func (p *process) signal(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	pgid := p.cmd.Process.Pid // Setpgid: the group's id is the leader's pid
	if err := syscall.Kill(-pgid, sig); err != nil {
		t.Fatalf("send %s to process group %d: %v", sig, pgid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("process %d did not exit within %s of %s", pgid, timeout, sig)
	}
	// Nothing of the group may survive its leader.
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("process group %d gone", pgid), func(context.Context) (bool, error) {
		err := syscall.Kill(-pgid, 0)
		return errors.Is(err, syscall.ESRCH), nil
	})
	return p.err
}

// httpGet returns the status and body of a GET of url.
func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
