package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
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
	var raw bytes.Buffer
	raw.Write(head.Header())
	if n := br.Buffered(); n > 0 {
		buffered, _ := br.Peek(n)
		raw.Write(buffered)
	}
	if pc, ok := ctx.Conn().(*prefixConn); ok {
		pc.stopIdleDeadline()
	}
	l.hijacked.Add(1)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer l.hijacked.Done()
		defer up.Close()
		if _, err := client.Write(raw.Bytes()); err != nil {
			return
		}
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(up, client); closeWrite(up); done <- struct{}{} }()
		go func() { _, _ = io.Copy(client, up); closeWrite(client); done <- struct{}{} }()
		select {
		case <-done:
			<-done
		case <-l.kill:
			// The drain time is over: upgraded connections end too.
			_ = client.Close()
			_ = up.Close()
			<-done
			<-done
		}
	})
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
