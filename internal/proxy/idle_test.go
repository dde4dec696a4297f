package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A client connection that sends nothing for the idle timeout is closed;
// one that keeps sending requests is not, and neither is an upgraded one.
func TestIdleTimeout(t *testing.T) {
	const idle = 500 * time.Millisecond
	primary := namedBackend(t, "primary")
	cfg := split(primary, primary, 1, 0)
	cfg.Routes[0].IdleTimeout = Duration(idle)
	p, _ := startProxy(t, cfg)
	addr := p.Addrs()["podinfo"]
	get := func(c net.Conn, br *bufio.Reader) error {
		if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}

	// Active for three idle periods, a request every idle/5.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var quiet time.Time
	for start := time.Now(); ; time.Sleep(idle / 5) {
		quiet = time.Now()
		if err := get(c, br); err != nil {
			t.Fatalf("request on an active connection: %v", err)
		}
		if time.Since(start) > 3*idle {
			break
		}
	}

	// Then idle: the proxy closes it within idle+idle/8 of the last
	// request (and some slack for a busy machine), not before idle.
	_ = c.SetReadDeadline(quiet.Add(10 * idle))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if d := time.Since(quiet); d < idle || d > 5*idle {
		t.Errorf("idle connection closed after %v, want about %v", d, idle)
	}
}

func TestUpgradedConnectionHasNoIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		_, _ = io.Copy(c, brw)
	}))
	defer echo.Close()
	cfg := split(echo, echo, 1, 0)
	cfg.Routes[0].IdleTimeout = Duration(idle)
	p, _ := startProxy(t, cfg)
	c, err := net.Dial("tcp", p.Addrs()["podinfo"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	// Quiet for more than the idle timeout: an upgraded connection is
	// the protocol's to time out.
	time.Sleep(3 * idle)
	fmt.Fprint(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo after a quiet period: %q, %v", line, err)
	}
}
