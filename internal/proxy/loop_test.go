package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/telemetry"
)

// engines are the two ways a listener serves HTTP/1.1: the event loop
// (Linux) and goroutines with fasthttp. Tests of HTTP/1.1 semantics run
// against both.
var engines = []struct {
	name string
	opts Options
}{
	{"loop", Options{}},
	{"goroutines", Options{DisableEventLoop: true}},
}

// echoBackend answers /echo with the request body, its method and
// length, chunked when asked with ?chunked=1; /unframed with a body that
// ends with the connection; /big?n=N with N bytes.
func echoBackend(t testing.TB) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Request-Length", strconv.Itoa(len(body)))
			w.Header().Set("X-Path", r.URL.RawQuery)
			if r.URL.Query().Get("chunked") == "1" {
				w.(http.Flusher).Flush()
			} else {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			_, _ = w.Write(body)
		case "/unframed":
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			fmt.Fprint(brw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
			_ = brw.Flush()
			_ = c.Close()
		case "/big":
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			w.Header().Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(bytes.Repeat([]byte("x"), n))
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests and responses of every framing and size pass through intact.
func TestExchangesPassThroughIntact(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, store := startProxyWith(t, split(b, b, 1, 0), e.opts)
			url := "http://" + p.Addrs()["podinfo"]
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			rnd := rand.New(rand.NewPCG(7, 8))
			sizes := []int{0, 1, 100, 8191, 8192, 8193, 70000, 1 << 20}
			const n = 48
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				size := sizes[rnd.IntN(len(sizes))]
				method := []string{"GET", "POST", "PUT"}[rnd.IntN(3)]
				chunkedReq, chunkedResp := rnd.IntN(2) == 0, rnd.IntN(2) == 0
				body := make([]byte, size)
				for j := range body {
					body[j] = byte('a' + (i+j)%26)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- echoOnce(client, url, i, method, body, chunkedReq, chunkedResp)
				}()
				if i%4 == 3 {
					wg.Wait()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if got := requestsOf(store, "podinfo-primary"); got != n {
				t.Errorf("recorded %d requests, want %d", got, n)
			}
		})
	}
}

func echoOnce(client *http.Client, url string, i int, method string, body []byte, chunkedReq, chunkedResp bool) error {
	var rd io.Reader = bytes.NewReader(body)
	if chunkedReq {
		rd = io.MultiReader(rd) // hides the length: sent chunked
	}
	q := "i=" + strconv.Itoa(i)
	if chunkedResp {
		q += "&chunked=1"
	}
	req, err := http.NewRequest(method, url+"/echo?"+q, rd)
	if err != nil {
		return err
	}
	if !chunkedReq {
		req.ContentLength = int64(len(body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("request %d (%s, %d bytes, chunked %v/%v): %w", i, method, len(body), chunkedReq, chunkedResp, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("request %d: reading the body: %w", i, err)
	case resp.StatusCode != 200:
		return fmt.Errorf("request %d: status %d: %s", i, resp.StatusCode, got)
	case resp.Header.Get("X-Method") != method || resp.Header.Get("X-Path") != q:
		return fmt.Errorf("request %d: backend saw %s %s", i, resp.Header.Get("X-Method"), resp.Header.Get("X-Path"))
	case !bytes.Equal(got, body):
		return fmt.Errorf("request %d (%d bytes, chunked %v/%v): body of %d bytes differs", i, len(body), chunkedReq, chunkedResp, len(got))
	}
	return nil
}

func requestsOf(store *telemetry.Store, deployment string) int64 {
	return store.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: deployment}).Requests()
}

// get GETs url and returns the status and body; a failed request fails
// the test.
func get(t testing.TB, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// dialProxy connects to addr for at most 20 seconds of the test.
func dialProxy(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// singleBackend is a route to the one endpoint addr.
func singleBackend(addr string) Config {
	return Config{Routes: []Route{{Name: "podinfo", Listen: "127.0.0.1:0", Backends: []Backend{
		{Name: "primary", Namespace: "test", Deployment: "podinfo-primary", Weight: 1, Endpoints: []string{addr}},
	}}}}
}

// rawExchange writes raw to a new connection to addr and reads n
// responses (for the request methods given).
func rawExchange(t *testing.T, addr, raw string, methods ...string) ([]*http.Response, []string, *bufio.Reader, net.Conn) {
	t.Helper()
	c := dialProxy(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(resps)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(resps)+1, err)
		}
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	return resps, bodies, br, c
}

// Pipelined requests are answered in order, HEAD without a body.
func TestPipelinedRequestsAndHead(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, _ := startProxyWith(t, split(b, b, 1, 0), e.opts)
			raw := "GET /echo?1 HTTP/1.1\r\nHost: x\r\n\r\n" +
				"POST /echo?2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
				"HEAD /big?n=10 HTTP/1.1\r\nHost: x\r\n\r\n" +
				"POST /echo?4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
			resps, bodies, _, _ := rawExchange(t, p.Addrs()["podinfo"], raw, "GET", "POST", "HEAD", "POST")
			want := []struct{ path, body string }{{"1", ""}, {"2", "hello"}, {"", ""}, {"4", "abc"}}
			for i, w := range want {
				if resps[i].StatusCode != 200 || resps[i].Header.Get("X-Path") != w.path || bodies[i] != w.body {
					t.Errorf("response %d: %d %q %q, want 200 %q %q", i+1, resps[i].StatusCode, resps[i].Header.Get("X-Path"), bodies[i], w.path, w.body)
				}
			}
			if resps[2].ContentLength != 10 {
				t.Errorf("HEAD: Content-Length %d, want 10", resps[2].ContentLength)
			}
		})
	}
}

// A response that ends with the connection reaches the client whole, and
// the client's connection is closed after it.
func TestResponseEndingWithConnection(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, _ := startProxyWith(t, split(b, b, 1, 0), e.opts)
			resps, bodies, br, _ := rawExchange(t, p.Addrs()["podinfo"], "GET /unframed HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			if resps[0].StatusCode != 200 || bodies[0] != "until the end" {
				t.Fatalf("got %d %q", resps[0].StatusCode, bodies[0])
			}
			if e.name == "goroutines" {
				return // fasthttp reads the body whole and frames it
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the response: %v, want EOF", err)
			}
		})
	}
}

// Malformed and oversized heads get a clear status and the connection
// closes.
func TestBadRequestHeads(t *testing.T) {
	b := echoBackend(t)
	p, store := startProxy(t, split(b, b, 1, 0))
	addr := p.Addrs()["podinfo"]
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400},
		{"both lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", 431},
		{"broken chunk", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resps, _, br, _ := rawExchange(t, addr, tc.raw, "GET")
			if resps[0].StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resps[0].StatusCode, tc.status)
			}
			if _, err := br.ReadByte(); err == nil {
				t.Error("connection still open after a bad request")
			}
		})
	}
	if got := requestsOf(store, "podinfo-primary"); got > 1 {
		t.Errorf("recorded %d requests for heads that were never forwarded whole, want at most the broken chunk's", got)
	}
}

// An HTTP/1.0 client is served, with or without a Host field, and its
// connection closes after the response unless it asked to keep it, in
// which case it is told so and gets the next response on it too.
func TestHTTP10Client(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, _ := startProxyWith(t, split(b, b, 1, 0), e.opts)
			addr := p.Addrs()["podinfo"]
			for _, head := range []string{"GET /big?n=3 HTTP/1.0\r\nHost: x\r\n\r\n", "GET /big?n=3 HTTP/1.0\r\n\r\n"} {
				resps, bodies, br, _ := rawExchange(t, addr, head, "GET")
				if resps[0].StatusCode != 200 || bodies[0] != "xxx" {
					t.Fatalf("%q: got %d %q", head, resps[0].StatusCode, bodies[0])
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("%q: after the response: %v, want EOF", head, err)
				}
			}
			keep := "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi" +
				"GET /big?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
			resps, bodies, _, _ := rawExchange(t, addr, keep, "POST", "GET")
			for i, want := range []string{"hi", "xxx"} {
				if resps[i].StatusCode != 200 || bodies[i] != want {
					t.Errorf("kept-alive response %d: %d %q, want 200 %q", i+1, resps[i].StatusCode, bodies[i], want)
				}
				if got := resps[i].Header.Get("Connection"); !strings.EqualFold(got, "keep-alive") {
					t.Errorf("kept-alive response %d: Connection %q, want keep-alive", i+1, got)
				}
			}
		})
	}
}

// An upstream that closes every connection after its response (without
// saying so) costs the clients nothing: a request meeting a closed pooled
// connection is sent again on a fresh one.
func TestUpstreamClosingPooledConnections(t *testing.T) {
	cfg := singleBackend(rawUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	}))
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, cfg, e.opts)
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range 100 {
				if status, body := get(t, client, "http://"+p.Addrs()["podinfo"]+"/"); status != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q", i, status, body)
				}
			}
		})
	}
}

// A client that reads slowly gets a large response whole: the proxy stops
// reading the upstream while the client's socket is full.
func TestSlowReaderGetsLargeResponseWhole(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, _ := startProxyWith(t, split(b, b, 1, 0), e.opts)
			c := dialProxy(t, p.Addrs()["podinfo"])
			const n = 32 << 20
			fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
			br := bufio.NewReaderSize(c, 1024)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Not reading for a while fills the socket buffers on the way.
			time.Sleep(300 * time.Millisecond)
			buf := make([]byte, 64<<10)
			total := 0
			for {
				m, err := resp.Body.Read(buf)
				total += m
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", total, err)
				}
			}
			if total != n {
				t.Fatalf("read %d bytes, want %d", total, n)
			}
		})
	}
}

// Expect: 100-continue reaches the upstream, whose interim response
// reaches the client before it sends the body.
func TestExpectContinue(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, _ := startProxyWith(t, split(b, b, 1, 0), e.opts)
			c := dialProxy(t, p.Addrs()["podinfo"])
			fmt.Fprint(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
				t.Fatalf("interim response: %q, %v", line, err)
			}
			if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
				t.Fatalf("after the interim status line: %q, %v", blank, err)
			}
			fmt.Fprint(c, "data")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "data" {
				t.Fatalf("final response: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// rawUpstream answers every request on a connection with the response
// resp(path) as raw bytes and then closes it.
func rawUpstream(t testing.TB, resp func(path string) string) string {
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
				_, _ = io.WriteString(c, resp(req.URL.Path))
			}()
		}
	}()
	return ln.Addr().String()
}

// A response that breaks off or breaks its framing reaches the client as
// a broken response and counts as a failure; a malformed head is a 502.
func TestBrokenUpstreamResponses(t *testing.T) {
	addr := rawUpstream(t, func(path string) string {
		switch path {
		case "/short":
			return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
		case "/badchunk":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
		default:
			return "HTTP/1.1 2x0 Nonsense\r\n\r\n"
		}
	})
	cfg := singleBackend(addr)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, store := startProxyWith(t, cfg, e.opts)
			client := &http.Client{Timeout: 10 * time.Second}
			url := "http://" + p.Addrs()["podinfo"]
			for _, path := range []string{"/short", "/badchunk"} {
				resp, err := client.Get(url + path)
				if err != nil {
					continue // the head may not even arrive
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 502 {
					t.Errorf("%s: read %d %q whole, want an error or a 502", path, resp.StatusCode, body)
				}
			}
			resp, err := client.Get(url + "/nonsense")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 502 {
				t.Errorf("malformed head: status %d, want 502", resp.StatusCode)
			}
			now := time.Now()
			st := store.Stats("test", "podinfo-primary", now.Add(-time.Minute), now)
			// The goroutine path records a streamed response at its head,
			// so a chunked body that breaks later is not a failure there.
			if want := map[string]int64{"loop": 3, "goroutines": 2}[e.name]; st.Requests != 3 || st.Failures != want {
				t.Errorf("recorded %d requests, %d failures; want 3 and %d", st.Requests, st.Failures, want)
			}
		})
	}
}

// Clients sending garbage, cutting requests and bodies short at random
// points and vanishing leave the proxy serving everyone else.
func TestAbruptClientsLeaveTheProxyServing(t *testing.T) {
	b := echoBackend(t)
	p, store := startProxy(t, split(b, b, 1, 0))
	addr := p.Addrs()["podinfo"]
	valid := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789" +
		"POST /echo?chunked=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
		"GET /big?n=200000 HTTP/1.1\r\nHost: x\r\n\r\n"
	rnd := rand.New(rand.NewPCG(3, 4))
	var wg sync.WaitGroup
	for i := range 200 {
		payload := []byte(valid[:rnd.IntN(len(valid)+1)])
		if i%4 == 0 { // a byte flipped somewhere
			if len(payload) > 0 {
				payload[rnd.IntN(len(payload))] ^= byte(1 + rnd.IntN(255))
			}
		}
		readSome := rnd.IntN(3) == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(payload)
			if readSome {
				// An incomplete request gets no answer: give up soon.
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				_, _ = c.Read(make([]byte, 100))
			}
		}()
	}
	wg.Wait()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 20 {
		body := strings.Repeat("z", i*1000)
		resp, err := client.Post("http://"+addr+"/echo", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d after the abrupt clients: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != body {
			t.Fatalf("request %d after the abrupt clients: %d, %d bytes", i, resp.StatusCode, len(got))
		}
	}
	if requestsOf(store, "podinfo-primary") < 20 {
		t.Error("the requests after the abrupt clients were not recorded")
	}
}

// A mirrored request reaches the mirror with its body, whether the body
// came with the head or streamed after it.
func TestMirrorGetsTheBody(t *testing.T) {
	primary := echoBackend(t)
	got := make(chan string, 10)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.RequestURI() + " " + string(b)
	}))
	defer mirror.Close()
	cfg := split(primary, mirror, 100, 0)
	cfg.Routes[0].Mirror = &Mirror{Backend: "canary", Percent: 100}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			p, _ := startProxyWith(t, cfg, e.opts)
			url := "http://" + p.Addrs()["podinfo"] + "/echo"
			small, large := "small body", strings.Repeat("large body ", 20000)
			for i, body := range []string{small, large} {
				var rd io.Reader = strings.NewReader(body)
				if i == 1 {
					rd = io.MultiReader(rd) // sent chunked, after the head
				}
				resp, err := http.Post(url+"?"+strconv.Itoa(i), "text/plain", rd)
				if err != nil {
					t.Fatal(err)
				}
				echoed, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(echoed) != body {
					t.Fatalf("request %d: primary echoed %d bytes, want %d", i, len(echoed), len(body))
				}
				select {
				case m := <-got:
					if want := "POST /echo?" + strconv.Itoa(i) + " " + body; m != want {
						t.Errorf("request %d: mirror got %.40q (%d bytes), want %.40q (%d bytes)", i, m, len(m), want, len(want))
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("request %d: nothing mirrored", i)
				}
			}
		})
	}
}

// A response is in the metrics by the time its client has it, so that
// whoever reads the metrics right after a request sees it.
func TestResponseIsRecordedBeforeTheClientHasIt(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := echoBackend(t)
			p, store := startProxyWith(t, split(b, b, 1, 0), e.opts)
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range 500 {
				if status, _ := get(t, client, "http://"+p.Addrs()["podinfo"]+"/big?n=10"); status != 200 {
					t.Fatalf("request %d: status %d", i, status)
				}
				if got := requestsOf(store, "podinfo-primary"); got != int64(i+1) {
					t.Fatalf("after %d responses the metrics count %d", i+1, got)
				}
			}
		})
	}
}
