//go:build linux

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// At its descriptor limit, the proxy backs off accepting, logs that once
// a second at most, goes on serving the connections it has and accepts
// again once descriptors are free. The proxy runs in a child process (this
// test binary again, TestFDLimitChild) whose limit is a few descriptors
// above what it holds when it starts.
func TestAcceptBacksOffAtDescriptorLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process for a few seconds")
	}
	b := namedBackend(t, "primary")
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitChild$")
			cmd.Env = append(os.Environ(), "SERIN_FDLIMIT_CHILD="+e.name, "SERIN_FDLIMIT_BACKEND="+b.Listener.Addr().String())
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("child: %v", err)
				}
			}()
			var (
				mu       sync.Mutex
				failures []time.Time // when each "accept failed" line came
				logged   = make(chan struct{})
			)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if !strings.Contains(sc.Text(), "accept failed") {
						t.Logf("child: %s", sc.Text())
						continue
					}
					mu.Lock()
					if failures = append(failures, time.Now()); len(failures) == 1 {
						close(logged)
					}
					mu.Unlock()
				}
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
			if err != nil || !ok {
				t.Fatalf("child's address: %q, %v", line, err)
			}

			client := &http.Client{Timeout: 10 * time.Second}
			if status, _ := get(t, client, "http://"+addr+"/"); status != 200 {
				t.Fatalf("before the limit: status %d", status)
			}
			var flood []net.Conn
			for range 40 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					break // the backlog is full
				}
				flood = append(flood, c)
			}
			select {
			case <-logged:
			case <-time.After(15 * time.Second):
				t.Fatal("no accept failure logged with more connections than descriptors")
			}
			const window = 2500 * time.Millisecond
			time.Sleep(window) // the failures go on all along: the log must not follow them
			mu.Lock()
			n := len(failures)
			mu.Unlock()
			t.Logf("%d accept failures logged within %v of the first", n, window)
			if n > 4 {
				t.Errorf("%d accept failures logged within %v of the first", n, window)
			}

			// The connection the client keeps is still served.
			if status, body := get(t, client, "http://"+addr+"/"); status != 200 || body != "primary" {
				t.Fatalf("an open connection at the limit: %d %q", status, body)
			}
			for _, c := range flood {
				c.Close()
			}
			fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			if status, _ := get(t, fresh, "http://"+addr+"/"); status != 200 {
				t.Fatalf("a new connection once descriptors are free: status %d", status)
			}
		})
	}
}

// TestFDLimitChild is the proxy of TestAcceptBacksOffAtDescriptorLimit:
// it prints its address and serves until its stdin closes.
func TestFDLimitChild(t *testing.T) {
	engine := os.Getenv("SERIN_FDLIMIT_CHILD")
	if engine == "" {
		t.Skip("the child of TestAcceptBacksOffAtDescriptorLimit")
	}
	cfg := singleBackend(os.Getenv("SERIN_FDLIMIT_BACKEND"))
	cfg.Routes[0].IdleTimeout = Duration(time.Minute)
	p, err := New(Options{
		DisableEventLoop: engine == "goroutines",
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(open) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", p.Addrs()["podinfo"])
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.Shutdown(ctx)
}
