package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/telemetry"
)

// namedBackend starts a real HTTP server answering its name.
func namedBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Seen-Hop", r.Header.Get("X-Hop")+"|"+r.Header.Get("Keep-Alive"))
		fmt.Fprint(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func startProxy(t testing.TB, cfg Config) (*Proxy, *telemetry.Store) {
	t.Helper()
	return startProxyWith(t, cfg, Options{})
}

// startProxyWith starts a proxy with opts, a fresh store and seeded
// randomness, and shuts it down when the test ends.
func startProxyWith(t testing.TB, cfg Config, opts Options) (*Proxy, *telemetry.Store) {
	t.Helper()
	store := telemetry.NewStore()
	opts.Store, opts.Rand = store, rand.NewPCG(1, 2)
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return p, store
}

func split(primary, canary *httptest.Server, wp, wc int) Config {
	return Config{Routes: []Route{{
		Name: "podinfo", Listen: "127.0.0.1:0",
		Backends: []Backend{
			{Name: "primary", Namespace: "test", Deployment: "podinfo-primary", Weight: wp, Endpoints: []string{primary.Listener.Addr().String()}},
			{Name: "canary", Namespace: "test", Deployment: "podinfo", Weight: wc, Endpoints: []string{canary.Listener.Addr().String()}},
		},
	}}}
}

func TestProxySplitsAndRecords(t *testing.T) {
	primary, canary := namedBackend(t, "primary"), namedBackend(t, "canary")
	p, store := startProxy(t, split(primary, canary, 80, 20))
	url := "http://" + p.Addrs()["podinfo"] + "/"
	counts := map[string]int{}
	const n = 1000
	for i := range n {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Connection", "keep-alive, X-Hop")
		req.Header.Set("X-Hop", "secret")
		req.Header.Set("Keep-Alive", "timeout=5")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != resp.Header.Get("X-Backend") {
			t.Fatalf("response %d %q from %q", resp.StatusCode, body, resp.Header.Get("X-Backend"))
		}
		if i == 0 {
			if xff := resp.Header.Get("X-Seen-XFF"); xff != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q", xff)
			}
			if proto := resp.Header.Get("X-Seen-Proto"); proto != "http" {
				t.Errorf("X-Forwarded-Proto = %q", proto)
			}
			if hop := resp.Header.Get("X-Seen-Hop"); hop != "|" {
				t.Errorf("hop-by-hop headers reached the backend: %q", hop)
			}
		}
		counts[string(body)]++
	}
	if c := counts["canary"]; c < 150 || c > 250 {
		t.Errorf("canary got %d of %d requests at weight 20", c, n)
	}
	now := time.Now().Add(time.Second)
	pst := store.Stats("test", "podinfo-primary", now.Add(-time.Minute), now)
	cst := store.Stats("test", "podinfo", now.Add(-time.Minute), now)
	if pst.Requests != int64(counts["primary"]) || cst.Requests != int64(counts["canary"]) || pst.SuccessRate != 100 {
		t.Errorf("stats: primary %+v, canary %+v, counts %v", pst, cst, counts)
	}
}

func TestBackendDownAnswers502AndCountsFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	cfg := Config{Routes: []Route{{Name: "r", Listen: "127.0.0.1:0", Backends: []Backend{
		{Name: "down", Namespace: "test", Deployment: "down", Weight: 1, Endpoints: []string{dead}},
	}}}}
	p, store := startProxy(t, cfg)
	resp, err := http.Get("http://" + p.Addrs()["r"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	now := time.Now().Add(time.Second)
	st := store.Stats("test", "down", now.Add(-time.Minute), now)
	if st.Requests != 1 || st.Failures != 1 || st.SuccessRate != 0 {
		t.Errorf("stats %+v, want one failed request", st)
	}
}

func TestRefusingEndpointIsSkipped(t *testing.T) {
	good := namedBackend(t, "good")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	cfg := Config{Routes: []Route{{Name: "r", Listen: "127.0.0.1:0", Backends: []Backend{
		{Name: "b", Weight: 1, Endpoints: []string{dead, good.Listener.Addr().String()}},
	}}}}
	p, _ := startProxy(t, cfg)
	for range 50 {
		resp, err := http.Get("http://" + p.Addrs()["r"] + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: a refused endpoint failed the request", resp.StatusCode)
		}
	}
}

// TestWeightFlipsUnderLoadLoseNothing runs N requests on keep-alive
// connections while the weights flip back and forth.
func TestWeightFlipsUnderLoadLoseNothing(t *testing.T) {
	primary, canary := namedBackend(t, "primary"), namedBackend(t, "canary")
	p, _ := startProxy(t, split(primary, canary, 100, 0))
	url := "http://" + p.Addrs()["podinfo"] + "/"
	const n, workers = 4000, 8
	var ok, failed atomic.Int64
	var seenCanary atomic.Bool
	var wg sync.WaitGroup
	jobs := make(chan struct{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Go(func() {
			for range jobs {
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				if string(body) == "canary" {
					seenCanary.Store(true)
				}
				ok.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	flipped := make(chan int)
	go func() {
		flips := 0
		for {
			select {
			case <-stop:
				flipped <- flips
				return
			default:
			}
			w := 100 * (flips % 2)
			cfg := split(primary, canary, 100-w, w)
			cfg.Routes[0].Listen = "127.0.0.1:0"
			if err := p.Apply(cfg); err != nil {
				t.Error(err)
			}
			flips++
			time.Sleep(time.Millisecond)
		}
	}()
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	close(stop)
	flips := <-flipped
	if ok.Load() != n || failed.Load() != 0 {
		t.Fatalf("%d responses ok, %d failed, want %d ok", ok.Load(), failed.Load(), n)
	}
	if flips < 10 || !seenCanary.Load() {
		t.Errorf("weights flipped %d times, canary seen %v", flips, seenCanary.Load())
	}
}

func TestApplyRejectsBadConfigAndKeepsOld(t *testing.T) {
	primary, canary := namedBackend(t, "primary"), namedBackend(t, "canary")
	p, _ := startProxy(t, split(primary, canary, 0, 100))
	bad := split(primary, canary, 0, 0)
	bad.Routes[0].Mirror = &Mirror{Backend: "nope", Percent: 10}
	err := p.Apply(bad)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
	if w := p.Config().Routes[0].Backends[1].Weight; w != 100 {
		t.Errorf("config changed to weight %d", w)
	}
	resp, err := http.Get("http://" + p.Addrs()["podinfo"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Backend") != "canary" {
		t.Errorf("old config not in effect: got %q", resp.Header.Get("X-Backend"))
	}
	// An address in use fails the whole Apply too.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	two := split(primary, canary, 1, 1)
	two.Routes = append(two.Routes, Route{Name: "second", Listen: busy.Addr().String(), Backends: two.Routes[0].Backends})
	if err := p.Apply(two); err == nil || !strings.Contains(err.Error(), "routes[1].listen") {
		t.Errorf("busy address: err = %v", err)
	}
	if n := len(p.Config().Routes); n != 1 {
		t.Errorf("%d routes after a failed apply", n)
	}
}

func TestRouteRemovalAndShutdownDrainInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		fmt.Fprint(w, "done")
	}))
	defer slow.Close()
	p, _ := startProxy(t, split(slow, slow, 1, 1))
	addr := p.Addrs()["podinfo"]
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	// Remove the route while its request is in flight.
	other := namedBackend(t, "other")
	cfg := split(other, other, 1, 1)
	cfg.Routes[0].Name = "other"
	cfg.Routes[0].Listen = freeAddr(t)
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	// The listener stops accepting...
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed route still accepts connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...but the request in flight completes.
	close(release)
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
}

func TestTimeoutAnswers504(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	cfg := split(slow, slow, 1, 0)
	cfg.Routes[0].Timeout = Duration(100 * time.Millisecond)
	p, store := startProxy(t, cfg)
	resp, err := http.Get("http://" + p.Addrs()["podinfo"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	now := time.Now().Add(time.Second)
	if st := store.Stats("test", "podinfo-primary", now.Add(-time.Minute), now); st.Failures != 1 {
		t.Errorf("timeout not counted as a failure: %+v", st)
	}
}

func TestMirrorNeverDelaysAndIsCounted(t *testing.T) {
	primary := namedBackend(t, "primary")
	var mirrored atomic.Int64
	release := make(chan struct{})
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mirrored.Add(1)
		if r.Header.Get("X-Slow") != "" {
			<-release
		}
		w.WriteHeader(500)
	}))
	defer mirror.Close()
	defer close(release)
	cfg := split(primary, mirror, 100, 0)
	cfg.Routes[0].Mirror = &Mirror{Backend: "canary", Percent: 100}
	p, store := startProxy(t, cfg)
	url := "http://" + p.Addrs()["podinfo"] + "/"
	for range 20 {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "primary" {
			t.Fatalf("mirrored request answered %d by %q", resp.StatusCode, resp.Header.Get("X-Backend"))
		}
	}
	// The mirror's metrics count its (failed) responses.
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := time.Now().Add(time.Second)
		st := store.Stats("test", "podinfo", now.Add(-time.Minute), now)
		if st.Requests == 20 && st.Failures == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror stats %+v after 20 requests", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A mirror that hangs does not slow the real requests down.
	start := time.Now()
	for range 50 {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Slow", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d with a hanging mirror", resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("50 requests took %v with a hanging mirror", d)
	}
}

func TestStickyAndMatchEndToEnd(t *testing.T) {
	primary, canary := namedBackend(t, "primary"), namedBackend(t, "canary")
	cfg := split(primary, canary, 50, 50)
	cfg.Routes[0].Sticky = &Sticky{Cookie: "serin"}
	cfg.Routes[0].Match = []MatchRule{{Headers: map[string]StringMatch{"X-Canary": {Exact: "insider"}}, Backend: "canary"}}
	p, _ := startProxy(t, cfg)
	url := "http://" + p.Addrs()["podinfo"] + "/"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Get("X-Backend")
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "serin" || cookies[0].Value != got {
		t.Fatalf("sticky cookie %v for backend %q", cookies, got)
	}
	for range 30 {
		req, _ := http.NewRequest("GET", url, nil)
		req.AddCookie(cookies[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if b := resp.Header.Get("X-Backend"); b != got || len(resp.Cookies()) != 0 {
			t.Fatalf("sticky client moved from %q to %q", got, b)
		}
	}
	for range 30 {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Canary", "insider")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if b := resp.Header.Get("X-Backend"); b != "canary" {
			t.Fatalf("matching request went to %q", b)
		}
	}
}

func TestStreamingResponse(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			release := make(chan struct{})
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "first\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
					fmt.Fprint(w, "second\n")
				case <-r.Context().Done():
				}
			}))
			defer s.Close()
			p, _ := startProxyWith(t, split(s, s, 1, 0), e.opts)
			resp, err := http.Get("http://" + p.Addrs()["podinfo"] + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			// The first chunk arrives while the backend is still holding the rest.
			line, err := br.ReadString('\n')
			if err != nil || line != "first\n" {
				close(release)
				t.Fatalf("first chunk %q, %v", line, err)
			}
			close(release)
			line, err = br.ReadString('\n')
			if err != nil || line != "second\n" {
				t.Fatalf("second chunk %q, %v", line, err)
			}
		})
	}
}

func TestH2C(t *testing.T) {
	primary, canary := namedBackend(t, "primary"), namedBackend(t, "canary")
	p, store := startProxy(t, split(primary, canary, 0, 1))
	tr := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resp, err := client.Get("http://" + p.Addrs()["podinfo"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "canary" {
		t.Fatalf("got %s %q, want HTTP/2 from the canary", resp.Proto, body)
	}
	now := time.Now().Add(time.Second)
	if st := store.Stats("test", "podinfo", now.Add(-time.Minute), now); st.Requests != 1 {
		t.Errorf("h2c request not recorded: %+v", st)
	}
}

func TestWebSocketUpgradePassThrough(t *testing.T) {
	// A backend that switches protocols and then echoes bytes.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.WriteHeader(400)
			return
		}
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
	p, _ := startProxy(t, split(echo, echo, 1, 0))
	c := dialProxy(t, p.Addrs()["podinfo"])
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	fmt.Fprint(c, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
