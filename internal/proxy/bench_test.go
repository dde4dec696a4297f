package proxy

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBackend serves body to every request on a loopback port, with a
// server that does not allocate per request, so that allocations measured
// around a proxied request are the proxy's.
func fastBackend(tb testing.TB, body []byte) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// benchProxy starts a proxy splitting 90/10 between two fast backends and
// returns a client for it.
func benchProxy(tb testing.TB, body []byte) *fasthttp.HostClient {
	tb.Helper()
	cfg := Config{Routes: []Route{{
		Name: "podinfo", Listen: "127.0.0.1:0",
		Backends: []Backend{
			{Name: "primary", Namespace: "test", Deployment: "podinfo-primary", Weight: 90, Endpoints: []string{fastBackend(tb, body)}},
			{Name: "canary", Namespace: "test", Deployment: "podinfo", Weight: 10, Endpoints: []string{fastBackend(tb, body)}},
		},
	}}}
	p, _ := startProxy(tb, cfg)
	return &fasthttp.HostClient{Addr: p.Addrs()["podinfo"], MaxConns: 64}
}

func proxiedGet(tb testing.TB, c *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, want int) {
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 || len(resp.Body()) != want {
		tb.Fatalf("got %d with %d bytes, want 200 with %d", resp.StatusCode(), len(resp.Body()), want)
	}
}

// BenchmarkProxiedRequest is one request through the proxy over loopback:
// client, proxy and backend in this process.
func BenchmarkProxiedRequest(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 300)
	c := benchProxy(b, body)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + c.Addr + "/")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	proxiedGet(b, c, req, resp, len(body))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		proxiedGet(b, c, req, resp, len(body))
	}
}

// The whole proxied request, client and backend included, allocates
// nothing once connections and buffers are pooled.
func TestProxiedRequestDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	body := bytes.Repeat([]byte("x"), 300)
	c := benchProxy(t, body)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + c.Addr + "/")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	for range 100 {
		proxiedGet(t, c, req, resp, len(body))
	}
	if n := testing.AllocsPerRun(1000, func() { proxiedGet(t, c, req, resp, len(body)) }); n > 0.1 {
		t.Errorf("%.2f allocations per proxied request, want 0", n)
	}
}

// Bodies over the buffered size stream through intact, one after another
// on the same client connection; HEAD answers keep their Content-Length.
func TestLargeBodyStreams(t *testing.T) {
	body := []byte(strings.Repeat("0123456789abcdef", (3*maxBufferedBody)/16))
	c := benchProxy(t, body)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + c.Addr + "/")
	for range 20 {
		proxiedGet(t, c, req, resp, len(body))
		if !bytes.Equal(resp.Body(), body) {
			t.Fatal("body changed on the way")
		}
	}
	req.Header.SetMethod(fasthttp.MethodHead)
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 || resp.Header.ContentLength() != len(body) {
		t.Fatalf("HEAD: %v, status %d, content length %d", err, resp.StatusCode(), resp.Header.ContentLength())
	}
}
