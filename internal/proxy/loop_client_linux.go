//go:build linux

package proxy

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Client connection states.
const (
	clientReadHead = iota // waiting for a request head
	clientSendBody        // forwarding the request body
	clientAwait           // request sent, waiting for the response
	clientClosing         // writing the last response, then closing
	clientClosed
)

// loopClient is a connection from a client and the exchange on it.
type loopClient struct {
	lp    *eventLoop
	l     *listener // the listener it came in on
	fd    int
	idx   int // in lp.clients
	ip    []byte
	in    []byte // read buffer; unread bytes are in[r:w]
	r, w  int
	out   []byte // bytes the kernel has not taken yet
	state int
	first bool // no request read yet
	// inProcess is set while process runs, which a callback that ends
	// the exchange must not enter again.
	inProcess bool
	// deadline is when the connection times out in its state (unix ns).
	deadline int64
	// headBy is when the request head being read must be in (unix ns):
	// the header timeout from its first byte, however the bytes trickle.
	headBy int64

	head h1Head
	hb   []byte // the bytes head was parsed from, while choosing

	// The exchange in progress.
	route      *route
	backend    *backend
	ep         *endpoint
	up         *loopUpstream
	setSticky  bool
	isHead     bool
	idempotent bool
	closeReq   bool // the client asked to close
	http10     bool // the request is HTTP/1.0
	closeAfter bool // close once the response is written
	start      int64
	bodyLeft   int64 // request body bytes still to forward; -1 chunked
	chunks     chunkScanner
	reqBytes   int64
	whole      bool   // the request was sent whole from req (no streamed body)
	req        []byte // the request as sent, for one retry on a stale connection
	retried    bool
	attempts   int
}

func (c *loopClient) event(ev uint32) {
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !c.flush() {
			return
		}
		if len(c.out) == 0 {
			switch {
			case c.state == clientClosing:
				c.close()
				return
			case c.up != nil:
				c.up.process() // resume the response
			}
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.process()
	}
}

// process reads and handles what the client sent, until the socket has
// nothing more or the connection must wait.
func (c *loopClient) process() {
	if c.inProcess {
		return // the caller's loop goes on in the new state
	}
	c.inProcess = true
	c.run()
	c.inProcess = false
}

func (c *loopClient) run() {
	lp := c.lp
	for {
		switch c.state {
		case clientReadHead:
			if c.r < c.w {
				if c.first && c.in[c.r] == 'P' && c.sniffH2() {
					return
				}
				n, err := parseRequestHead(c.in[c.r:c.w], &c.head)
				if err != nil {
					c.reject(err)
					return
				}
				if n > 0 {
					c.first = false
					c.startRequest(n)
					continue // in whatever state the request left
				}
				if c.w-c.r == len(c.in) {
					c.reject(&headError{status: 431, msg: "request head larger than " + strconv.Itoa(clientBuffer) + " bytes"})
					return
				}
			}
		case clientSendBody:
			if c.up == nil || len(c.up.out) > 0 {
				return // the upstream takes no more for now
			}
			if c.r < c.w {
				c.forwardBody()
				continue // in whatever state that left
			}
		default:
			return
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		} else if c.w == len(c.in) {
			c.w = copy(c.in, c.in[c.r:c.w])
			c.r = 0
		}
		started := c.r < c.w // a head had begun before this read
		n, err := read(c.fd, c.in[c.w:])
		if n > 0 {
			c.w += n
			if c.state == clientReadHead {
				if !started {
					c.headBy = lp.now + int64(c.l.header)
				}
				c.deadline = min(lp.now+int64(c.l.idle), c.headBy)
			}
			continue
		}
		if err != nil {
			c.peerGone()
		}
		return
	}
}

// forwardBody sends the buffered bytes of the request body upstream.
func (c *loopClient) forwardBody() {
	lp := c.lp
	var err error
	if lp.wbuf, err = c.takeBody(lp.wbuf[:0]); err != nil {
		// The upstream has part of a broken body: neither the exchange
		// nor the connection can go on.
		c.closeReq = true
		c.fail(400, err)
		return
	}
	if c.bodyLeft == 0 {
		c.state = clientAwait
		c.deadline = c.start + int64(c.route.timeout)
	}
	c.up.send(lp.wbuf)
}

// sniffH2 hands the connection to the HTTP/2 server when it opens with
// the preface; true when the connection left or must wait for more.
func (c *loopClient) sniffH2() bool {
	for {
		got := c.in[c.r:c.w]
		if len(got) >= len(h2Preface) {
			if string(got[:len(h2Preface)]) != h2Preface {
				return false
			}
			c.handoff(c.l.h2, false)
			return true
		}
		if h2Preface[:len(got)] != string(got) {
			return false
		}
		n, err := read(c.fd, c.in[c.w:])
		if n == 0 {
			if err != nil {
				c.close()
			}
			return true
		}
		c.w += n
	}
}

// loopRequest reads the head of a client connection for the backend
// choice.
type loopRequest loopClient

func (r *loopRequest) HeaderValue(name []byte) ([]byte, bool) { return r.head.value(r.hb, name) }
func (r *loopRequest) CookieValue(name []byte) ([]byte, bool) { return r.head.cookie(r.hb, name) }

// startRequest forwards the request whose head is the next n bytes.
func (c *loopClient) startRequest(n int) {
	lp := c.lp
	h := &c.head
	rt := c.l.route.Load()
	if h.upgrade || !rt.loopable {
		c.handoff(c.l.h1, true)
		return
	}
	c.hb = c.in[c.r : c.r+n]
	ch := rt.choose((*loopRequest)(c), lp.p.rnd)
	if ch.mirror && (h.chunked || int64(c.w-c.r-n) < h.contentLength) {
		// A mirrored request is copied whole; one whose body is still
		// on its way goes to the goroutine path, which buffers bodies.
		c.hb = nil
		c.handoff(c.l.h1, true)
		return
	}
	method := c.hb[h.method.start:h.method.end]
	c.route, c.backend, c.setSticky = rt, ch.backend, ch.setSticky
	c.isHead = string(method) == "HEAD"
	c.idempotent = isIdempotent(method)
	c.closeReq = h.close
	c.http10 = h.minor == 0
	c.closeAfter = false
	c.start = lp.now
	c.deadline = lp.now + int64(rt.timeout)
	c.reqBytes = 0
	c.retried = false
	c.attempts = 0
	c.bodyLeft = 0
	switch {
	case h.chunked:
		c.bodyLeft = -1
		c.chunks.reset()
	case h.contentLength > 0:
		c.bodyLeft = h.contentLength
	}
	lp.wbuf = appendRequestHead(lp.wbuf[:0], c.hb, h, c.ip)
	if c.http10 {
		lp.wbuf = asHTTP10(lp.wbuf)
	}
	c.hb = nil
	c.r += n
	var err error
	if lp.wbuf, err = c.takeBody(lp.wbuf); err != nil {
		c.closeReq = true
		c.fail(400, err)
		return
	}
	c.whole = c.bodyLeft == 0
	if c.whole && c.idempotent {
		c.req = append(c.req[:0], lp.wbuf...)
	}
	if ch.mirror {
		lp.p.mirrorRaw(rt, lp.wbuf)
	}
	c.state = clientSendBody
	if c.whole {
		c.state = clientAwait
	}
	if c.connect(nil, nil) {
		c.up.send(lp.wbuf)
	}
}

// asHTTP10 turns the head of a request to send upstream into HTTP/1.0
// asking to keep the connection: the upstream then frames its response in
// a way an HTTP/1.0 client reads (a length, or the end of the
// connection), never chunked.
func asHTTP10(head []byte) []byte {
	if i := bytes.Index(head, []byte(" HTTP/1.1\r\n")); i >= 0 {
		head[i+8] = '0'
	}
	head = head[:len(head)-2] // the blank line
	return append(head, "Connection: keep-alive\r\n\r\n"...)
}

func isIdempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// takeBody moves the buffered bytes of the request body to dst.
func (c *loopClient) takeBody(dst []byte) ([]byte, error) {
	avail := c.in[c.r:c.w]
	switch {
	case c.bodyLeft == 0:
		return dst, nil
	case c.bodyLeft > 0:
		n := int(min(int64(len(avail)), c.bodyLeft))
		c.bodyLeft -= int64(n)
		c.reqBytes += int64(n)
		c.r += n
		return append(dst, avail[:n]...), nil
	}
	n, done, err := c.chunks.scan(avail)
	if err != nil {
		return dst, err
	}
	c.reqBytes += int64(n)
	c.r += n
	if done {
		c.bodyLeft = 0
	}
	return append(dst, avail[:n]...), nil
}

// connect gives the exchange an upstream connection to an endpoint of its
// backend other than skip, carrying over pending (what was meant for a
// connection that was refused); false when the exchange failed instead.
func (c *loopClient) connect(skip *endpoint, pending []byte) bool {
	lp := c.lp
	for c.attempts < len(c.backend.endpoints) {
		c.attempts++
		e := c.backend.pickEndpoint(c.route.roundRobin, lp.p.rnd, lp.p.now, skip)
		if e == nil {
			break
		}
		if c.ep != e {
			if c.ep != nil {
				c.ep.inflight.Add(-1)
			}
			c.ep = e
			e.inflight.Add(1)
		}
		u := lp.pooled(e)
		if u == nil {
			var err error
			if u, err = lp.dial(e); err != nil {
				if errors.Is(err, unix.ECONNREFUSED) {
					e.refused(lp.now)
					skip = e
					continue
				}
				c.fail(502, err)
				return false
			}
		}
		u.bind(c)
		if len(pending) > 0 {
			u.out = append(u.out, pending...)
		}
		return true
	}
	c.fail(502, unix.ECONNREFUSED)
	return false
}

// fail ends the exchange before a response head with a response of the
// proxy's own.
func (c *loopClient) fail(status int, err error) {
	lp := c.lp
	if u := c.up; u != nil {
		u.unbind()
		u.close()
	}
	if c.ep != nil {
		c.ep.inflight.Add(-1)
		c.ep = nil
	}
	lp.p.log.Debug("upstream request failed", "route", c.route.cfg.Name, "backend", c.backend.name, "err", err)
	c.backend.rec.Record(status, time.Duration(lp.now-c.start), c.reqBytes, 0)
	if c.bodyLeft != 0 {
		c.closeReq = true // the rest of the body is still on the way
	}
	c.respond(status)
}

// reject answers a request the proxy will not forward and closes the
// connection.
func (c *loopClient) reject(err error) {
	status := 400
	var he *headError
	if errors.As(err, &he) {
		status = he.status
	}
	c.lp.p.log.Debug("bad request", "listen", c.l.ln.Addr().String(), "err", err)
	c.closeReq = true
	c.respond(status)
}

// respond writes a response of the proxy's own and ends the exchange.
func (c *loopClient) respond(status int) {
	lp := c.lp
	text := http.StatusText(status)
	b := append(lp.wbuf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(text)+1), 10)
	if c.closeReq || c.http10 || c.l.draining.Load() {
		b = append(b, "\r\nConnection: close"...)
		c.closeAfter = true
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, text...)
	b = append(b, '\n')
	lp.wbuf = b
	if !c.send(b) {
		return
	}
	c.endExchange()
}

// send writes b to the client; false when the connection is gone.
func (c *loopClient) send(b []byte) bool {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return true
	}
	n, err := write(c.fd, b)
	if err != nil {
		c.abort()
		return false
	}
	if n < len(b) {
		c.out = append(c.out[:0], b[n:]...)
	}
	return true
}

// flush writes pending output; false when the connection is gone.
func (c *loopClient) flush() bool {
	n, err := write(c.fd, c.out)
	if err != nil {
		c.abort()
		return false
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	if c.state == clientClosing || c.up != nil && c.up.state == upBody {
		c.deadline = c.lp.now + int64(c.l.idle)
	}
	return true
}

// endExchange readies the connection for the next request, or closes it.
func (c *loopClient) endExchange() {
	c.route, c.backend, c.up = nil, nil, nil
	// A listener that started draining during the exchange closes its
	// connection now, though the response did not say so.
	if c.closeAfter || c.closeReq || c.l.draining.Load() {
		c.state = clientClosing
		c.r, c.w = 0, 0
		c.deadline = c.lp.now + int64(c.l.idle)
		if len(c.out) == 0 {
			c.close()
		}
		return
	}
	c.state = clientReadHead
	c.deadline = c.lp.now + int64(c.l.idle)
	if c.r < c.w { // the next head came with this exchange's bytes
		c.headBy = c.lp.now + int64(c.l.header)
		c.deadline = min(c.deadline, c.headBy)
	}
	c.process()
}

// peerGone handles the client's end of stream or a read error.
func (c *loopClient) peerGone() {
	if c.state == clientReadHead {
		c.close()
		return
	}
	c.abort()
}

// timedOut handles a passed deadline.
func (c *loopClient) timedOut() {
	switch {
	case c.state == clientReadHead || c.state == clientClosing:
		c.close()
	case c.up == nil || c.up.state == upHead || c.up.state == upConnecting:
		c.fail(504, errors.New("timed out waiting for the response head"))
	default:
		c.abort() // the response stalled midway
	}
}

// abort closes the connection and whatever exchange is on it.
func (c *loopClient) abort() {
	if c.state == clientClosed {
		return
	}
	if u := c.up; u != nil {
		status := 0 // a transport error, as the response broke off
		if u.state == upBody {
			status = u.status
			if u.respLeft != 0 {
				status = 0
			}
		}
		u.record(status)
		u.unbind()
		u.close()
	}
	if c.ep != nil {
		c.ep.inflight.Add(-1)
		c.ep = nil
	}
	c.close()
}

func (c *loopClient) close() {
	if c.state == clientClosed {
		return
	}
	fd := c.fd
	c.forget()
	_ = unix.Close(fd)
}

// forget takes the connection out of the loop.
func (c *loopClient) forget() {
	c.state = clientClosed
	lp := c.lp
	lp.socks[c.fd] = sock{}
	c.fd = -1
	last := lp.clients[len(lp.clients)-1]
	lp.clients[c.idx] = last
	last.idx = c.idx
	lp.clients = lp.clients[:len(lp.clients)-1]
	c.l.connDone()
}

// handoff gives the connection, with what was read of it, to the
// listener's HTTP/1.1 or HTTP/2 server.
func (c *loopClient) handoff(q *connQueue, idle bool) {
	lp := c.lp
	prefix := append([]byte(nil), c.in[c.r:c.w]...)
	fd := c.fd
	_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	c.forget()
	f := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(f) // a duplicate, in the Go poller
	_ = f.Close()
	if err != nil {
		lp.p.log.Warn("handing a connection over failed", "err", err)
		return
	}
	var pc net.Conn = &prefixConn{Conn: nc, prefix: prefix}
	if idle {
		pc = c.l.newPrefixConn(nc, prefix, 0)
	}
	go q.push(pc)
}
