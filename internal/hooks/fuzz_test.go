package hooks

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
)

// rawHook is a webhook server that reads each request and answers with
// whatever bytes reply holds, then closes the connection.
func rawHook(t testing.TB, reply *atomic.Value) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = c.Write(reply.Load().([]byte))
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook"
}

// acceptedStatus reads raw as the replies to a POST, past informational
// (1xx) ones as an HTTP client does, and says whether the final one has a
// status a webhook passes with (200-202).
func acceptedStatus(raw []byte) bool {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodPost})
		if err != nil {
			return false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp.StatusCode >= 200 && resp.StatusCode <= 202
	}
}

// FuzzWebhookReply has a webhook answer arbitrary bytes (status line,
// headers and body) and close. The call must not panic and must return one
// result; the webhook passes only when its reply has a 200-202 status, and
// a passing reply's message holds at most maxBody bytes of its body.
func FuzzWebhookReply(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n",
		"HTTP/1.0 500 Internal Server Error\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n" + strings.Repeat("x", 600),
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"not http at all",
		"",
	} {
		f.Add([]byte(seed))
	}
	var reply atomic.Value
	reply.Store([]byte(nil))
	url := rawHook(f, &reply)
	c := canary(v1beta1.CanaryWebhook{Name: "gate", Type: v1beta1.ConfirmRolloutHook, URL: url, Timeout: "10s"})
	h := newCaller()
	f.Fuzz(func(t *testing.T, raw []byte) {
		reply.Store(raw)
		res := h.Call(context.Background(), c, v1beta1.ConfirmRolloutHook)
		if len(res) != 1 {
			t.Fatalf("reply %q: %d results, want 1", raw, len(res))
		}
		r := res[0]
		if r.Message == "" {
			t.Errorf("reply %q: an empty message", raw)
		}
		if r.OK && !acceptedStatus(raw) {
			t.Errorf("reply %q passed the webhook: %s", raw, r.Message)
		}
		if max := len("status 200: ") + maxBody; r.OK && len(r.Message) > max {
			t.Errorf("reply %q: a message of %d bytes, want at most %d", raw, len(r.Message), max)
		}
	})
}

// The fuzzer's reading of a reply says no to what a webhook must not pass
// with, so that its check can fail.
func TestAcceptedStatus(t *testing.T) {
	for raw, want := range map[string]bool{
		"HTTP/1.1 200 OK\r\n\r\n":                                    true,
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n\r\n": true,
		"HTTP/1.1 203 Non-Authoritative Information\r\n\r\n":         false,
		"HTTP/1.1 101 Switching Protocols\r\n\r\n":                   false,
		"HTTP/1.1 100 Continue\r\n\r\n":                              false,
		"HTTP/1.1 2000 OK\r\n\r\n":                                   false,
		"garbage":                                                    false,
	} {
		if got := acceptedStatus([]byte(raw)); got != want {
			t.Errorf("acceptedStatus(%q) = %v, want %v", raw, got, want)
		}
	}
}
