package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// isUpgrade reports whether the request asks to switch protocols
// (WebSocket and the like).
func isUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && len(h.Peek("Upgrade")) > 0
}

// serveUpgrade forwards a protocol upgrade: the request goes to an
// endpoint on a connection of its own and, once the endpoint answers 101,
// bytes are piped both ways until either side closes.
func (l *listener) serveUpgrade(ctx *fasthttp.RequestCtx, r *route) {
	p := l.p
	req := &ctx.Request
	c := r.choose((*fastRequest)(&req.Header), p.rnd)
	b := c.backend
	setForwarded(&req.Header, ctx.RemoteAddr(), nil)
	e := b.pickEndpoint(r.roundRobin, p.rnd, p.now, nil)

	start := time.Now()
	fail := func(status int, err error) {
		p.log.Debug("upgrade failed", "route", r.cfg.Name, "backend", b.name, "err", err)
		ctx.Response.SetStatusCode(status)
		ctx.Response.SetBodyString(fasthttp.StatusMessage(status) + "\n")
		b.rec.Record(status, time.Since(start), 0, 0)
	}
	up, err := net.DialTimeout("tcp", e.addr, dialTimeout)
	if err != nil {
		if isRefused(err) {
			e.refused(p.now())
		}
		fail(fasthttp.StatusBadGateway, err)
		return
	}
	_ = up.SetDeadline(time.Now().Add(r.timeout))
	if len(req.Header.Host()) == 0 {
		req.Header.SetHost(e.addr) // as in endpoint.do
	}
	bw := bufio.NewWriter(up)
	if err = req.Write(bw); err == nil {
		err = bw.Flush()
	}
	br := bufio.NewReader(up)
	var head fasthttp.ResponseHeader
	if err == nil {
		err = head.Read(br)
	}
	if err != nil {
		_ = up.Close()
		status := fasthttp.StatusBadGateway
		if isTimeout(err) {
			status = fasthttp.StatusGatewayTimeout
		}
		fail(status, err)
		return
	}
	latency := time.Since(start)
	status := head.StatusCode()
	b.rec.Record(status, latency, 0, 0)
	if status != fasthttp.StatusSwitchingProtocols {
		// No switch: relay the answer as an ordinary response.
		defer up.Close()
		resp := &ctx.Response
		head.CopyTo(&resp.Header)
		if err := resp.ReadBody(br, 0); err != nil {
			ctx.Response.Reset()
			ctx.Response.SetStatusCode(fasthttp.StatusBadGateway)
		}
		ctx.SetConnectionClose()
		return
	}
	_ = up.SetDeadline(time.Time{})
	var head101 bytes.Buffer
	head101.Write(head.Header())
	if n := br.Buffered(); n > 0 {
		buffered, _ := br.Peek(n)
		head101.Write(buffered)
	}
	// fasthttp hands the hijacker a wrapper that reads what it buffered
	// but neither closes nor half-closes: that is done on the connection
	// under it.
	raw := ctx.Conn()
	if pc, ok := raw.(*prefixConn); ok {
		pc.stopIdleDeadline()
	}
	l.hijacked.Add(1)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer l.hijacked.Done()
		defer up.Close()
		defer raw.Close()
		if _, err := raw.Write(head101.Bytes()); err != nil {
			return
		}
		t := &tunnel{idle: int64(l.tunnel), client: raw, up: up}
		t.last.Store(time.Now().UnixNano())
		done := make(chan struct{}, 2)
		go func() { t.pipe(up, client, raw); closeWrite(up); done <- struct{}{} }()
		go func() { t.pipe(raw, up, up); closeWrite(raw); done <- struct{}{} }()
		select {
		case <-done:
			<-done
		case <-l.kill:
			// The drain time is over: upgraded connections end too.
			t.close()
			<-done
			<-done
		}
	})
}

// tunnel is an upgraded connection piped between a client and an
// endpoint. It is closed once no byte went either way for idle.
type tunnel struct {
	idle       int64 // nanoseconds
	last       atomic.Int64
	client, up net.Conn
}

// pipe copies src to dst until src ends or fails, dst fails or the
// tunnel has been quiet both ways for its idle timeout. rd is the
// connection src reads from, whose read deadline pipe keeps: coarsely,
// moved only when a read starts less than idle before it.
func (t *tunnel) pipe(dst io.Writer, src io.Reader, rd net.Conn) {
	buf := make([]byte, 32<<10)
	var deadline int64
	for {
		if now := time.Now().UnixNano(); deadline < now+t.idle {
			deadline = max(now, t.last.Load()) + t.idle + t.idle/8
			if rd.SetReadDeadline(time.Unix(0, deadline)) != nil {
				return
			}
		}
		n, err := src.Read(buf)
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				t.close() // the other way cannot go on either
				return
			}
		}
		if err == nil {
			continue
		}
		if isTimeout(err) && time.Now().UnixNano()-t.last.Load() < t.idle {
			deadline = 0 // the other way was busy
			continue
		}
		if isTimeout(err) {
			t.close()
		}
		return
	}
}

func (t *tunnel) close() {
	_ = t.client.Close()
	_ = t.up.Close()
}

// closeWrite half-closes a connection when it can.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	if pc, ok := c.(*prefixConn); ok {
		closeWrite(pc.Conn)
	}
}
