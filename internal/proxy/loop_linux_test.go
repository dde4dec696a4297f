//go:build linux

package proxy

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blackhole returns the address of a listening socket whose accept queue
// is full, so that connection attempts to it get no answer.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	for range 10 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("this kernel answers connection attempts beyond the accept queue")
	return ""
}

// An endpoint that does not answer connection attempts is given up on
// after the dial timeout and the request goes to another endpoint.
func TestUnansweredConnectMovesToAnotherEndpoint(t *testing.T) {
	hole := blackhole(t)
	good := namedBackend(t, "good")
	cfg := Config{Routes: []Route{{Name: "podinfo", Listen: "127.0.0.1:0", LoadBalancer: RoundRobin, Backends: []Backend{
		{Name: "primary", Namespace: "test", Deployment: "podinfo-primary", Weight: 1,
			Endpoints: []string{hole, good.Listener.Addr().String()}},
	}}}}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, cfg, e.opts)
			client := &http.Client{Timeout: 3 * dialTimeout}
			for i := range 2 { // the first meets the unanswering endpoint
				resp, err := client.Get("http://" + p.Addrs()["podinfo"] + "/")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "good" {
					t.Fatalf("request %d: %d %q, want 200 from the answering endpoint", i, resp.StatusCode, body)
				}
			}
		})
	}
}

// listenerOf returns the proxy's only listener.
func listenerOf(p *Proxy) *listener {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		return l
	}
	return nil
}

// A listener runs GOMAXPROCS event loops by default, and the accepting
// loop deals connections out to all of them in turn.
func TestConnectionsAreDealtToEveryLoop(t *testing.T) {
	b := namedBackend(t, "primary")
	p, _ := startProxy(t, split(b, b, 1, 0))
	if got, want := len(listenerOf(p).loops), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("%d event loops by default, want GOMAXPROCS = %d", got, want)
	}

	p, _ = startProxyWith(t, split(b, b, 1, 0), Options{EventLoops: 3})
	const conns = 30
	for i := range conns { // each on a connection of its own
		resps, _, _, _ := rawExchange(t, p.Addrs()["podinfo"], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if resps[0].StatusCode != 200 {
			t.Fatalf("connection %d: status %d", i, resps[0].StatusCode)
		}
	}
	for i, lp := range listenerOf(p).loops {
		if got := lp.adopted.Load(); got != conns/3 {
			t.Errorf("loop %d took %d connections, want %d", i, got, conns/3)
		}
	}
}
