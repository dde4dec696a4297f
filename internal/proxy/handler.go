package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
)

// fastRequest reads a fasthttp request for the backend choice.
type fastRequest fasthttp.RequestHeader

func (r *fastRequest) HeaderValue(name []byte) ([]byte, bool) {
	v := (*fasthttp.RequestHeader)(r).PeekBytes(name)
	return v, v != nil
}

func (r *fastRequest) CookieValue(name []byte) ([]byte, bool) {
	v := (*fasthttp.RequestHeader)(r).CookieBytes(name)
	return v, v != nil
}

// serveFast forwards an HTTP/1.1 request.
func (l *listener) serveFast(ctx *fasthttp.RequestCtx) {
	p := l.p
	r := l.route.Load()
	req := &ctx.Request
	if isUpgrade(&req.Header) {
		l.serveUpgrade(ctx, r)
		return
	}
	c := r.choose((*fastRequest)(&req.Header), p.rnd)
	clientClose := req.Header.ConnectionClose()
	req.Header.ResetConnectionClose()
	removeHopHeaders(&req.Header, requestHopHeaders)
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	*bp = setForwarded(&req.Header, ctx.RemoteAddr(), *bp)
	if c.mirror {
		p.mirror(r, req)
	}

	resp := &ctx.Response
	start := time.Now()
	status, err := p.forward(r, c.backend, req, resp, start)
	latency := time.Since(start)
	if err != nil {
		status = fasthttp.StatusBadGateway
		if isTimeout(err) {
			status = fasthttp.StatusGatewayTimeout
		}
		p.log.Debug("upstream request failed", "route", r.cfg.Name, "backend", c.backend.name, "err", err)
		resp.Reset()
		resp.SetStatusCode(status)
		resp.Header.SetContentType("text/plain; charset=utf-8")
		resp.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	} else {
		resp.Header.ResetConnectionClose()
		removeHopHeaders(&resp.Header, responseHopHeaders)
	}
	if c.setSticky {
		*bp = r.stickyCookie((*bp)[:0], c.backend)
		resp.Header.AddBytesV("Set-Cookie", *bp)
	}
	if clientClose {
		ctx.SetConnectionClose()
	}
	c.backend.rec.Record(status, latency, int64(len(req.Body())), int64(max(resp.Header.ContentLength(), 0)))
}

// forward sends req, received at start, to an endpoint of b and reads the
// response into resp (a large body streams when the caller writes resp). A
// refused connection marks the endpoint down and moves on to another one.
func (p *Proxy) forward(r *route, b *backend, req *fasthttp.Request, resp *fasthttp.Response, start time.Time) (int, error) {
	deadline := start.Add(r.timeout)
	slack := deadlineSlack(r.timeout)
	var skip *endpoint
	var err error
	for range b.endpoints {
		e := b.pickEndpoint(r.roundRobin, p.rnd, p.now, skip)
		if e == nil {
			break
		}
		e.inflight.Add(1)
		err = e.do(req, resp, deadline, slack)
		e.inflight.Add(-1)
		if err == nil {
			e.succeeded()
			return resp.StatusCode(), nil
		}
		if !isRefused(err) {
			return 0, err
		}
		e.refused(p.now())
		skip = e
	}
	return 0, err
}

// Hop-by-hop headers, which concern one connection and are not forwarded
// (RFC 9110, 7.6.1). Connection and Transfer-Encoding are handled by the
// HTTP/1.1 codec itself.
var (
	requestHopHeaders  = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}
	responseHopHeaders = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade"}
)

type headerDeleter interface {
	Peek(key string) []byte
	Del(key string)
	DelBytes(key []byte)
}

func removeHopHeaders(h headerDeleter, names []string) {
	// Headers named by Connection are hop-by-hop too.
	if conn := h.Peek("Connection"); len(conn) > 0 {
		for tok := range bytes.SplitSeq(conn, []byte(",")) {
			tok = bytes.TrimSpace(tok)
			if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
				h.DelBytes(tok)
			}
		}
		h.Del("Connection")
	}
	for _, n := range names {
		if h.Peek(n) != nil {
			h.Del(n)
		}
	}
}

// setForwarded appends the client's address to X-Forwarded-For and sets
// X-Forwarded-Proto when no proxy before set it.
// buf is scratch space; the grown buffer is returned for reuse.
func setForwarded(h *fasthttp.RequestHeader, remote net.Addr, buf []byte) []byte {
	b := buf[:0]
	if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
		b = append(b, prior...)
		b = append(b, ", "...)
	}
	b = appendIP(b, remote)
	h.SetBytesV("X-Forwarded-For", b)
	if h.Peek("X-Forwarded-Proto") == nil {
		h.Set("X-Forwarded-Proto", "http")
	}
	return b
}

func appendIP(b []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().AppendTo(b)
		}
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return b
	}
	return append(b, host...)
}

// mirrorWorkers send mirrored requests; their number bounds the mirror
// traffic in flight.
const mirrorWorkers = 4

type mirrorJob struct {
	route *route
	req   *fasthttp.Request
}

// mirror queues a copy of req for the route's mirror backend, or drops it
// when the queue is full: mirroring never delays the request itself.
func (p *Proxy) mirror(r *route, req *fasthttp.Request) {
	m := fasthttp.AcquireRequest()
	req.CopyTo(m)
	select {
	case p.mirrors <- mirrorJob{route: r, req: m}:
	default:
		fasthttp.ReleaseRequest(m)
	}
}

// mirrorRaw is mirror for a request given as the bytes sent upstream.
func (p *Proxy) mirrorRaw(r *route, raw []byte) {
	m := fasthttp.AcquireRequest()
	if err := m.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
		p.log.Debug("request not mirrored", "route", r.cfg.Name, "err", err)
		fasthttp.ReleaseRequest(m)
		return
	}
	select {
	case p.mirrors <- mirrorJob{route: r, req: m}:
	default:
		fasthttp.ReleaseRequest(m)
	}
}

func (p *Proxy) mirrorLoop() {
	defer p.workers.Done()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for job := range p.mirrors {
		b := job.route.mirror
		start := time.Now()
		status, err := p.forward(job.route, b, job.req, resp, start)
		latency := time.Since(start)
		if err != nil {
			status = fasthttp.StatusBadGateway
			if isTimeout(err) {
				status = fasthttp.StatusGatewayTimeout
			}
		} else if s := resp.BodyStream(); s != nil {
			// The connection goes back to the pool only once the body is read.
			_, _ = io.Copy(io.Discard, s)
			_ = resp.CloseBodyStream()
		}
		b.rec.Record(status, latency, int64(len(job.req.Body())), int64(max(resp.Header.ContentLength(), 0)))
		fasthttp.ReleaseRequest(job.req)
	}
}

// fastLogger adapts slog to fasthttp's logger.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
}
