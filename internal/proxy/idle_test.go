package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// An upgraded connection is not closed by the idle timeout of HTTP
// connections, only by its own (tunnelIdleTimeout, 1h by default).
func TestUpgradedConnectionHasNoIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	echo := upgradingBackend(t, func(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(c, br) })
	cfg := split(echo, echo, 1, 0)
	cfg.Routes[0].IdleTimeout = Duration(idle)
	p, _ := startProxy(t, cfg)
	c, br := openTunnel(t, p.Addrs()["podinfo"])
	// Quiet for more than the idle timeout: an upgraded connection is
	// the protocol's to time out.
	time.Sleep(3 * idle)
	fmt.Fprint(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo after a quiet period: %q, %v", line, err)
	}
}
