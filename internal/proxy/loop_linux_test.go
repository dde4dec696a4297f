//go:build linux

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
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
				if status, body := get(t, client, "http://"+p.Addrs()["podinfo"]+"/"); status != 200 || body != "good" {
					t.Fatalf("request %d: %d %q, want 200 from the answering endpoint", i, status, body)
				}
			}
		})
	}
}

// The proxy runs GOMAXPROCS event loops by default, however many
// listeners it has; each listener's accepting loop deals its connections
// out to all loops in turn, and a listener removed from the config drains
// off the loops while the others go on.
func TestLoopsAreSharedByListeners(t *testing.T) {
	b := namedBackend(t, "primary")
	two := split(b, b, 1, 0)
	other := two.Routes[0]
	other.Name, other.Listen = "other", freeAddr(t)
	two.Routes = append(two.Routes, other)

	p, _ := startProxy(t, split(b, b, 1, 0))
	if got, want := len(p.loopsOf()), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("%d event loops by default, want GOMAXPROCS = %d", got, want)
	}

	p, _ = startProxyWith(t, two, Options{EventLoops: 3})
	addrs := p.Addrs()
	const conns = 30
	for _, route := range []string{"podinfo", "other"} {
		for i := range conns { // each on a connection of its own, kept open
			resps, _, _, _ := rawExchange(t, addrs[route], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			if resps[0].StatusCode != 200 {
				t.Fatalf("%s, connection %d: status %d", route, i, resps[0].StatusCode)
			}
		}
	}
	loops := p.loopsOf()
	if len(loops) != 3 {
		t.Fatalf("%d event loops, want 3", len(loops))
	}
	for i, lp := range loops {
		if got := lp.adopted.Load(); got != 2*conns/3 {
			t.Errorf("loop %d took %d connections, want %d", i, got, 2*conns/3)
		}
	}

	// Removing "other" closes its idle connections and its socket.
	idle := dialProxy(t, addrs["other"])
	if err := p.Apply(split(b, b, 1, 0)); err != nil { // keeps "podinfo" on its listener
		t.Fatal(err)
	}
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("an idle connection of the removed listener: read %v, want EOF", err)
	}
	resps, _, _, _ := rawExchange(t, addrs["podinfo"], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if resps[0].StatusCode != 200 {
		t.Errorf("the remaining listener answered %d", resps[0].StatusCode)
	}
	if len(p.loopsOf()) != 3 {
		t.Errorf("%d event loops after removing a listener, want 3", len(p.loopsOf()))
	}
}

// fuzzDeadline bounds each input of the running-loop fuzzers: a proxy that
// has by then neither taken a client's bytes, nor answered, nor broken the
// connection is wedged, and that is a failure, not a pass.
const fuzzDeadline = 10 * time.Second

// errWedged is what the running-loop fuzzers' exchanges return when their
// deadline passes.
var errWedged = errors.New("wedged: no progress before the deadline")

// sendClientBytes writes payload to addr as a client would, reading and
// discarding whatever comes back meanwhile (so a response cannot hold up
// the writing), gives the proxy a moment to answer, then hangs up. It
// returns errWedged if the proxy neither took the bytes nor dropped the
// connection before the deadline.
func sendClientBytes(addr string, payload []byte, deadline time.Time) error {
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(io.Discard, c)
	}()
	_, err = c.Write(payload)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("writing %d bytes: %w", len(payload), errWedged)
	}
	// A few milliseconds for the proxy to act on the bytes before the
	// hangup; the fuzzer explores both orders either way.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	<-read
	return nil
}

// exchangeWithin makes one GET of url and reads the response to its end,
// all before the deadline. It returns the status and body, or the error
// the client met; errWedged (wrapped) if the deadline passed first.
func exchangeWithin(client *http.Client, url string, deadline time.Time) (int, string, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			return resp.StatusCode, string(body), nil
		}
	}
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, "", fmt.Errorf("GET %s: %v: %w", url, err, errWedged)
	}
	return 0, "", err
}

// The fuzzers' deadline is a failure: against a peer that accepts, reads
// and never answers nor closes, both exchanges report a wedge.
func TestFuzzExchangesReportAWedge(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	addr := ln.Addr().String()
	// More than the socket buffers hold, so the write cannot finish.
	if err := sendClientBytes(addr, make([]byte, 64<<20), time.Now().Add(200*time.Millisecond)); !errors.Is(err, errWedged) {
		t.Errorf("writing to a peer that reads nothing: %v, want a wedge", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, _, err := exchangeWithin(client, "http://"+addr+"/", time.Now().Add(200*time.Millisecond)); !errors.Is(err, errWedged) {
		t.Errorf("a GET nobody answers: %v, want a wedge", err)
	}
}

// FuzzEventLoopClientBytes sends arbitrary bytes to the event loop as a
// client would, then hangs up; the loop must neither crash nor stop
// serving, and must do both within fuzzDeadline.
func FuzzEventLoopClientBytes(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
		"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET /big?n=100000 HTTP/1.1\r\nHost: x\r\n\r\nGET /unframed HTTP/1.1\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
		"HEAD /big?n=10 HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	b := echoBackend(f)
	p, _ := startProxy(f, split(b, b, 1, 0))
	addr := p.Addrs()["podinfo"]
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if err := sendClientBytes(addr, payload, time.Now().Add(fuzzDeadline)); err != nil {
			t.Fatalf("sending %q: %v", payload, err)
		}
		if status, _, err := exchangeWithin(client, "http://"+addr+"/", time.Now().Add(fuzzDeadline)); err != nil || status != 200 {
			t.Fatalf("after %q: status %d, %v", payload, status, err)
		}
	})
}

// FuzzEventLoopUpstreamBytes has the upstream answer arbitrary bytes and
// close; within fuzzDeadline the client gets a response or a broken
// connection, never a crash nor a hang, and another route on the same
// loops still answers.
func FuzzEventLoopUpstreamBytes(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	var answer atomic.Value
	answer.Store("")
	addr := rawUpstream(f, func(string) string { return answer.Load().(string) })
	cfg := singleBackend(addr)
	healthy := singleBackend(echoBackend(f).Listener.Addr().String()).Routes[0]
	healthy.Name, healthy.Listen = "healthy", freeAddr(f)
	cfg.Routes = append(cfg.Routes, healthy)
	p, _ := startProxy(f, cfg)
	url, healthyURL := "http://"+p.Addrs()["podinfo"]+"/", "http://"+p.Addrs()["healthy"]+"/"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	f.Fuzz(func(t *testing.T, resp []byte) {
		answer.Store(string(resp))
		// Any other error is a broken response breaking the connection.
		if _, _, err := exchangeWithin(client, url, time.Now().Add(fuzzDeadline)); errors.Is(err, errWedged) {
			t.Fatalf("upstream answered %q: %v", resp, err)
		}
		if status, _, err := exchangeWithin(client, healthyURL, time.Now().Add(fuzzDeadline)); err != nil || status != 200 {
			t.Fatalf("after the upstream answered %q, another route: status %d, %v", resp, status, err)
		}
	})
}

// A connection whose response was under way when its listener began to
// drain closes once the response is done, not at its idle timeout. (The
// goroutine path is not tested here: it holds a streamed response's first
// bytes until its write buffer fills, so the head would not come first.)
func TestConnectionClosesAfterResponseWhenDrainStartsMidway(t *testing.T) {
	first, last := strings.Repeat("f", 1000), strings.Repeat("l", 99000)
	release := make(chan struct{})
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(first)+len(last)))
		_, _ = io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
			_, _ = io.WriteString(w, last)
		case <-r.Context().Done():
		}
	}))
	defer b.Close()
	cfg := split(b, b, 1, 0)
	cfg.Routes[0].Listen = freeAddr(t)
	// One loop: once the listener's socket is closed, the drain has run on
	// the loop that holds the connection too.
	p, _ := startProxyWith(t, cfg, Options{EventLoops: 1})
	p.mu.Lock()
	old := p.listeners[cfg.Routes[0].Listen]
	p.mu.Unlock()
	c := dialProxy(t, p.Addrs()["podinfo"])
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	if resp.Header.Get("Connection") == "close" {
		t.Error("the response said close before the drain began")
	}

	// The head is here; now the route goes and its listener drains.
	keep := split(b, b, 1, 0)
	keep.Routes[0].Name = "other"
	err = p.Apply(keep)
	for deadline := time.Now().Add(5 * time.Second); err == nil && !old.acceptClosed.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			err = errors.New("the removed listener did not start draining")
		}
	}
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != first+last {
		t.Fatalf("body of %d bytes, %v", len(body), err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the response: %v, want EOF well before the idle timeout", err)
	}
}
