package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func newTransports() (h1, h2c *http.Transport) {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	h1 = &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     defaultIdleTimeout,
		ForceAttemptHTTP2:   false,
	}
	h2c = &http.Transport{
		DialContext:     dialer.DialContext,
		IdleConnTimeout: defaultIdleTimeout,
		Protocols:       new(http.Protocols),
	}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return h1, h2c
}

// httpRequest reads a net/http request for the backend choice.
type httpRequest http.Request

func (r *httpRequest) HeaderValue(name []byte) ([]byte, bool) {
	v := (*http.Request)(r).Header.Values(string(name))
	if len(v) == 0 {
		return nil, false
	}
	return []byte(v[0]), true
}

func (r *httpRequest) CookieValue(name []byte) ([]byte, bool) {
	c, err := (*http.Request)(r).Cookie(string(name))
	if err != nil {
		return nil, false
	}
	return []byte(c.Value), true
}

// h2Handler forwards requests that arrived over HTTP/2 cleartext (gRPC
// among them) with net/http; it chooses backends like the fast path, but
// does not mirror.
type h2Handler struct{ l *listener }

func (h h2Handler) ServeHTTP(w http.ResponseWriter, in *http.Request) {
	p := h.l.p
	r := h.l.route.Load()
	c := r.choose((*httpRequest)(in), p.rnd)
	b := c.backend
	e := b.pickEndpoint(r.roundRobin, p.rnd, p.now, nil)
	transport := p.h1Transport
	if r.cfg.UpstreamProtocol == H2C {
		transport = p.h2cTransport
	}
	ctx, cancel := context.WithTimeout(in.Context(), r.timeout)
	defer cancel()

	start := time.Now()
	status := 0
	var latency time.Duration
	var respBytes int64
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: e.addr})
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			status, latency, respBytes = resp.StatusCode, time.Since(start), max(resp.ContentLength, 0)
			if c.setSticky {
				resp.Header.Add("Set-Cookie", string(r.stickyCookie(nil, b)))
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			latency = time.Since(start)
			status = http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			if isRefused(err) {
				e.refused(p.now())
			}
			p.log.Debug("upstream request failed", "route", r.cfg.Name, "backend", b.name, "err", err)
			w.WriteHeader(status)
		},
	}
	e.inflight.Add(1)
	rp.ServeHTTP(w, in.WithContext(ctx))
	e.inflight.Add(-1)
	b.rec.Record(status, latency, max(in.ContentLength, 0), respBytes)
}
