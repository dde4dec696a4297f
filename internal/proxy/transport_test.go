package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A response without Content-Length or chunking ends when the backend
// closes the connection; the proxy streams it on, chunked.
func TestCloseDelimitedResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	body := strings.Repeat("close-delimited ", 10000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"+body)
			}()
		}
	}()
	backend := &httptest.Server{Listener: ln}
	p, _ := startProxy(t, split(backend, backend, 1, 0))
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
