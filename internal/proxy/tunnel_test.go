package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// upgradingBackend switches protocols on every request and then runs
// serve on the connection, which it closes after.
func upgradingBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() == nil {
			serve(c, brw.Reader)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// openTunnel upgrades a new connection to the proxy at addr.
func openTunnel(t *testing.T, addr string) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	c := dialProxy(t, addr)
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	return c.(*net.TCPConn), br
}

// readToEnd reads what is left of a tunnel and fails the test unless it
// ends (rather than hitting dialProxy's deadline).
func readToEnd(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	b, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading a tunnel to its end: got %q, then %v", b, err)
	}
	return string(b)
}

// An upstream closing its side of a tunnel closes it toward the client,
// which is waiting to read and sends nothing; a client half-closing gets
// what the upstream sends after, then the end.
func TestTunnelHalfClosesPropagate(t *testing.T) {
	bye := upgradingBackend(t, func(c net.Conn, br *bufio.Reader) {
		if line, err := br.ReadString('\n'); err == nil {
			fmt.Fprint(c, "bye "+line)
		}
	})
	drain := upgradingBackend(t, func(c net.Conn, br *bufio.Reader) {
		b, _ := io.ReadAll(br) // up to the client's half-close
		fmt.Fprintf(c, "got %q\n", b)
	})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, split(bye, drain, 1, 0), e.opts)
			c, br := openTunnel(t, p.Addrs()["podinfo"])
			fmt.Fprint(c, "hello\n")
			if got := readToEnd(t, br); got != "bye hello\n" {
				t.Errorf("from an upstream that closed: %q", got)
			}

			p, _ = startProxyWith(t, split(drain, bye, 1, 0), e.opts)
			c, br = openTunnel(t, p.Addrs()["podinfo"])
			fmt.Fprint(c, "one\ntwo\n")
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got := readToEnd(t, br); got != "got \"one\\ntwo\\n\"\n" {
				t.Errorf("after the client's half-close: %q", got)
			}
		})
	}
}

// A tunnel with traffic either way stays open past its idle timeout; one
// quiet both ways for it is closed at both ends.
func TestTunnelIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	upstreamEnded := make(chan error, 2)
	echo := upgradingBackend(t, func(c net.Conn, br *bufio.Reader) {
		_, err := io.Copy(c, br)
		upstreamEnded <- err
	})
	cfg := split(echo, echo, 1, 0)
	cfg.Routes[0].TunnelIdleTimeout = Duration(idle)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, cfg, e.opts)
			c, br := openTunnel(t, p.Addrs()["podinfo"])
			for start := time.Now(); time.Since(start) < 3*idle; time.Sleep(idle / 5) {
				fmt.Fprint(c, "ping\n")
				if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
					t.Fatalf("echo on a busy tunnel: %q, %v", line, err)
				}
			}
			if got := readToEnd(t, br); got != "" {
				t.Errorf("a quiet tunnel sent %q before closing", got)
			}
			if err := <-upstreamEnded; err != nil {
				t.Errorf("the upstream's side of the quiet tunnel: %v, want its end", err)
			}
		})
	}
}

// Shutdown keeps to its context's deadline with a tunnel open, and the
// tunnel is closed.
func TestShutdownClosesTunnelsAtItsDeadline(t *testing.T) {
	echo := upgradingBackend(t, func(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(c, br) })
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, split(echo, echo, 1, 0), e.opts)
			_, br := openTunnel(t, p.Addrs()["podinfo"])
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- p.Shutdown(ctx) }()
			select {
			case err := <-shut:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("shutdown with a tunnel open: %v, want the deadline exceeded", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("shutdown still waiting for an open tunnel 15s after its 200ms deadline")
			}
			readToEnd(t, br)
		})
	}
}
