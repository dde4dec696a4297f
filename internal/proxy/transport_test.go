package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A response without Content-Length or chunking ends when the backend
// closes the connection; the proxy passes it on whole (the event loop
// closes the client's connection after it, fasthttp frames it chunked).
func TestCloseDelimitedResponse(t *testing.T) {
	body := strings.Repeat("close-delimited ", 10000)
	addr := rawUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
	})
	p, _ := startProxy(t, singleBackend(addr))
	for range 3 {
		resp, err := http.Get("http://" + p.Addrs()["podinfo"] + "/")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != body {
			t.Fatalf("got %d bytes (%v), want %d", len(got), err, len(body))
		}
	}
}
