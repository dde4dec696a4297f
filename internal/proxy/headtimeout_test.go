package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that trickles its request head, a byte at a time and each well
// within the idle timeout, is cut off once the header timeout from the
// head's first byte is over; a connection that is only quiet before its
// request is not, and whole requests are served.
func TestRequestHeadDeadline(t *testing.T) {
	const header = 300 * time.Millisecond
	b := namedBackend(t, "primary")
	cfg := split(b, b, 1, 0)
	cfg.Routes[0].IdleTimeout = Duration(20 * header)
	cfg.Routes[0].HeaderTimeout = Duration(header)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, cfg, e.opts)
			addr := p.Addrs()["podinfo"]

			c := dialProxy(t, addr)
			br := bufio.NewReader(c)
			for i := range 2 {
				time.Sleep(2 * header) // quiet between requests: the idle timeout's business
				fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d after a quiet period: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(body) != "primary" {
					t.Fatalf("request %d after a quiet period: %d %q %v", i, resp.StatusCode, body, err)
				}
			}

			// Sending the head at a byte every header/6 would take ten
			// header timeouts.
			head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 32) + "\r\n\r\n"
			s := dialProxy(t, addr)
			closed := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, s); close(closed) }()
			sent := 0
		trickle:
			for sent < len(head) {
				select {
				case <-closed:
					break trickle
				case <-time.After(header / 6):
				}
				if _, err := s.Write([]byte{head[sent]}); err != nil {
					break
				}
				sent++
			}
			if sent == len(head) {
				t.Fatalf("a head trickled over %v was taken, with a header timeout of %v", time.Duration(len(head))*header/6, header)
			}
			<-closed
		})
	}
}
