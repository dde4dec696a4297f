package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// h2Preface opens every HTTP/2 connection with prior knowledge.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// listener serves one address. On Linux the proxy's event loops accept
// and serve its HTTP/1.1 themselves (the fast path); they hand what they
// do not serve to the listener's fasthttp server, and connections opening with the HTTP/2 preface to a
// net/http server speaking HTTP/2 cleartext. Elsewhere, or with
// Options.DisableEventLoop, goroutines accept and every HTTP/1.x
// connection goes to the fasthttp server.
type listener struct {
	p     *Proxy
	ln    net.Listener
	route atomic.Pointer[route]

	// With the proxy's event loops (onLoops): draining is set when the
	// listener stops; drained closes once its socket is closed
	// (acceptClosed) and none of its connections is on a loop
	// (loopConns).
	onLoops      bool
	draining     atomic.Bool
	acceptClosed atomic.Bool
	loopConns    atomic.Int64
	drained      chan struct{}
	drainOnce    sync.Once

	h1, h2 *connQueue
	idle   time.Duration // how long a client connection may send nothing
	header time.Duration // how long a request head may take
	tunnel time.Duration // how long an upgraded connection may be quiet
	srv    *fasthttp.Server
	h2srv  *http.Server
	served sync.WaitGroup

	acceptErrs rareLog // accept failures, logged once a second at most

	hijacked sync.WaitGroup // upgraded connections being piped
	closing  chan struct{}  // closed when the listener starts shutting down
	kill     chan struct{}  // closed when the drain time is over
}

func (p *Proxy) newListener(ln net.Listener, r Route) *listener {
	idle := time.Duration(r.IdleTimeout)
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	header := time.Duration(r.HeaderTimeout)
	if header == 0 {
		header = p.headTimeout
	}
	tunnel := time.Duration(r.TunnelIdleTimeout)
	if tunnel == 0 {
		tunnel = defaultTunnelIdleTimeout
	}
	l := &listener{
		p:       p,
		ln:      ln,
		idle:    idle,
		header:  header,
		tunnel:  tunnel,
		h1:      newConnQueue(ln.Addr()),
		h2:      newConnQueue(ln.Addr()),
		closing: make(chan struct{}),
		kill:    make(chan struct{}),
	}
	l.srv = &fasthttp.Server{
		Handler:                      l.serveFast,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		// No IdleTimeout: the server would set two read deadlines per
		// request. prefixConn keeps a coarse one instead.
		ReadBufferSize:     8 << 10,
		MaxRequestBodySize: 32 << 20,
		CloseOnShutdown:    true,
		Logger:             fastLogger{p.log},
	}
	l.h2srv = &http.Server{
		Handler:           h2Handler{l},
		IdleTimeout:       idle,
		ReadHeaderTimeout: header,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	l.h2srv.Protocols.SetUnencryptedHTTP2(true)
	return l
}

func (l *listener) start() {
	l.served.Add(2)
	go func() { defer l.served.Done(); _ = l.srv.Serve(l.h1) }()
	go func() { defer l.served.Done(); _ = l.h2srv.Serve(l.h2) }()
	if l.startLoops() {
		return
	}
	l.served.Add(1)
	go func() { defer l.served.Done(); l.acceptLoop() }()
}

func (l *listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry,
			// serving the connections there are.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.acceptFailed(time.Now().UnixNano(), err)
			select {
			case <-time.After(backoff):
				continue
			case <-l.closing:
				return
			}
		}
		backoff = 0
		go l.sniff(c)
	}
}

// acceptFailed logs a failure to accept, once a second at most.
func (l *listener) acceptFailed(now int64, err error) {
	if n, ok := l.acceptErrs.due(now); ok {
		l.p.log.Warn("accept failed, backing off", "listen", l.ln.Addr().String(), "err", err, "alsoFailedSinceLastLog", n)
	}
}

// rareLog lets a recurring message through once a second at most and
// counts those it held back.
type rareLog struct {
	next atomic.Int64 // unix nanoseconds from which the next one goes
	held atomic.Int64
}

// due reports whether a message goes now and how many were held back
// since the last one that went.
func (r *rareLog) due(now int64) (int64, bool) {
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(time.Second)) {
		r.held.Add(1)
		return 0, false
	}
	return r.held.Swap(0), true
}

// sniff reads the first bytes of a connection and hands it to the HTTP/1.1
// or the HTTP/2 server.
func (l *listener) sniff(c net.Conn) {
	buf := make([]byte, 0, len(h2Preface))
	first := time.Now().Add(l.idle)
	_ = c.SetReadDeadline(first)
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		if n > 0 && len(buf) == 0 {
			// The first bytes of a request: its head has the header
			// timeout from now.
			if by := time.Now().Add(l.header); by.Before(first) {
				first = by
				_ = c.SetReadDeadline(first)
			}
		}
		buf = buf[:len(buf)+n]
		if !bytes.HasPrefix([]byte(h2Preface), buf) || len(buf) == len(h2Preface) {
			break
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
	if len(buf) == len(h2Preface) && string(buf) == h2Preface {
		_ = c.SetReadDeadline(time.Time{})
		l.h2.push(&prefixConn{Conn: c, prefix: buf})
		return
	}
	// The deadline set above stays until the first Read after it is due
	// to be moved.
	l.h1.push(l.newPrefixConn(c, buf, first.UnixNano()))
}

// newPrefixConn wraps an HTTP/1.x client connection for the fasthttp
// server, with the listener's idle and header timeouts; deadline is the
// read deadline set on c, 0 for none.
func (l *listener) newPrefixConn(c net.Conn, prefix []byte, deadline int64) *prefixConn {
	return &prefixConn{Conn: c, prefix: prefix, idle: int64(l.idle), header: int64(l.header),
		body: int64(l.route.Load().timeout), deadline: deadline}
}

// shutdown stops accepting, lets in-flight requests finish until ctx ends
// and closes every connection.
func (l *listener) shutdown(ctx context.Context) error {
	close(l.closing)
	err := l.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	errs := []error{err}
	if l.onLoops {
		errs = append(errs, l.stopLoops(ctx))
	}
	errs = append(errs, l.srv.ShutdownWithContext(ctx))
	l.h1.Close()
	errs = append(errs, l.h2srv.Shutdown(ctx))
	l.h2.Close()
	done := make(chan struct{})
	go func() { l.hijacked.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
		close(l.kill)
		<-done
	}
	l.served.Wait()
	return errors.Join(errs...)
}

// prefixConn replays the bytes read while sniffing before reading on.
//
// With idle set (HTTP/1.1 connections), a read fails once the client has
// sent nothing for between idle and idle+idle/8: rather than two deadline
// changes per request, the read deadline moves only when a read starts
// less than idle before it. A request head must also come whole within
// header of its first byte: prefixConn follows the bytes read to tell
// where a head ends (its blank line) and the response written to tell
// where the next one may begin, so a client trickling a head is cut off
// however often it sends a byte; its body must then come within body.
type prefixConn struct {
	net.Conn
	prefix []byte

	idle     int64 // nanoseconds; 0 when the deadline is someone else's
	header   int64 // nanoseconds a request head may take
	body     int64 // nanoseconds its body may take after it (the route's timeout)
	deadline int64 // unix nanoseconds of the read deadline set

	phase  int   // where the client is in its request: awaitHead, inHead, inBody
	headBy int64 // unix nanoseconds by which the head must be in, inHead
	bodyBy int64 // and the body, inBody
	nl     bool  // the head read so far ends in a line feed (and maybe a CR)
}

// The phases of a prefixConn's client.
const (
	awaitHead = iota // between requests
	inHead           // sending a request head
	inBody           // the head is in: its body, then the response
)

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		if c.idle > 0 {
			c.follow(b[:n], time.Now().UnixNano())
		}
		return n, nil
	}
	if c.idle == 0 {
		return c.Conn.Read(b)
	}
	now := time.Now().UnixNano()
	want := c.deadline
	if want < now+c.idle {
		want = now + c.idle + c.idle/8
	}
	switch c.phase {
	case inHead:
		want = min(want, c.headBy)
	case inBody:
		want = min(want, c.bodyBy)
	}
	if want != c.deadline {
		c.deadline = want
		if err := c.Conn.SetReadDeadline(time.Unix(0, want)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(b)
	c.follow(b[:n], now)
	return n, err
}

// follow notes where the bytes read leave the client's request: a head
// starts with the first byte after a response and ends with a blank line.
func (c *prefixConn) follow(p []byte, now int64) {
	for len(p) > 0 && c.phase != inBody {
		if c.phase == awaitHead {
			c.phase, c.headBy, c.nl = inHead, now+c.header, false
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.nl = c.nl && len(bytes.Trim(p, "\r")) == 0
			return
		}
		if c.nl && len(bytes.Trim(p[:i], "\r")) == 0 {
			c.phase, c.bodyBy = inBody, now+c.body
			return
		}
		c.nl = true
		p = p[i+1:]
	}
}

// Write sends a response; once it is not an interim one (100 Continue),
// the next byte read starts a new request head.
func (c *prefixConn) Write(b []byte) (int, error) {
	if c.phase == inBody && !bytes.HasPrefix(b, []byte("HTTP/1.1 1")) {
		c.phase = awaitHead
	}
	return c.Conn.Write(b)
}

// stopIdleDeadline drops the idle deadline, for a connection handed over to a
// protocol of its own (an upgrade). It must be called before the
// connection is read by another goroutine.
func (c *prefixConn) stopIdleDeadline() {
	c.idle = 0
	_ = c.Conn.SetReadDeadline(time.Time{})
}

// connQueue is a net.Listener fed with connections accepted elsewhere.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.closer.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
