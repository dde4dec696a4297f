//go:build linux

package proxy

import (
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Upstream connection states.
const (
	upConnecting = iota
	upHead       // request sent or being sent, waiting for the response head
	upBody       // forwarding the response body
	upIdle       // pooled
	upClosed
)

// loopUpstream is a connection to an endpoint, owned by one loop.
type loopUpstream struct {
	lp    *eventLoop
	fd    int
	idx   int // in lp.ups
	ep    *endpoint
	in    []byte
	r, w  int
	out   []byte
	state int
	c     *loopClient // the exchange it carries; nil when idle
	// reused is set once it has carried a response: a failure before
	// the next response's first byte may be a close that crossed the
	// request, which is worth one retry.
	reused   bool
	gotBytes bool
	recorded bool // the exchange's response is in the metrics
	// since is when the connection attempt started or, when idle, when
	// it was pooled.
	since int64

	head      h1Head
	status    int
	respLeft  int64 // response body bytes still to forward; -1 chunked, -2 until close, respBroken
	chunks    chunkScanner
	respBytes int64
	latency   int64
}

// pooled returns an idle connection to e, or nil.
func (lp *eventLoop) pooled(e *endpoint) *loopUpstream {
	pool := lp.idle[e] // idle connections only: close takes a connection out
	if len(pool) == 0 {
		return nil
	}
	u := pool[len(pool)-1]
	lp.idle[e] = pool[:len(pool)-1]
	return u
}

func (lp *eventLoop) dial(e *endpoint) (*loopUpstream, error) {
	if !e.ap.IsValid() {
		return nil, errors.New("endpoint " + e.addr + " is not an IP address")
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if a := e.ap.Addr(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(e.ap.Port()), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(e.ap.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	u := &loopUpstream{lp: lp, fd: fd, ep: e, in: make([]byte, upstreamBuffer), state: upConnecting, since: lp.now}
	switch err := unix.Connect(fd, sa); {
	case err == nil:
		u.state = upHead
	case errors.Is(err, unix.EINPROGRESS):
	default:
		_ = unix.Close(fd)
		return nil, err
	}
	if err := lp.register(fd, u, connEvents); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	u.idx = len(lp.ups)
	lp.ups = append(lp.ups, u)
	return u, nil
}

// bind makes u carry c's exchange.
func (u *loopUpstream) bind(c *loopClient) {
	u.c = c
	c.up = u
	if u.state == upIdle {
		u.state = upHead
	}
	u.gotBytes = false
	u.recorded = false
	u.respBytes = 0
	u.r, u.w = 0, 0
}

func (u *loopUpstream) unbind() {
	if u.c != nil {
		u.c.up = nil
		u.c = nil
	}
}

func (u *loopUpstream) event(ev uint32) {
	if u.state == upConnecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if errno, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || errno != 0 {
			if err == nil {
				err = unix.Errno(errno)
			}
			u.connectFailed(err)
			return
		}
		// Writable without an error is not proof enough (an event may
		// be spurious): a connected socket has a peer, one still
		// connecting has not (ENOTCONN), and its real EPOLLOUT comes
		// when it has. Once per connection, not per request.
		if _, err := unix.Getpeername(u.fd); errors.Is(err, unix.ENOTCONN) {
			return
		}
		u.state = upHead
	}
	if ev&unix.EPOLLOUT != 0 && len(u.out) > 0 {
		if !u.flush() {
			return
		}
		if len(u.out) == 0 && u.c != nil && u.c.state == clientSendBody {
			u.c.process() // resume the request body
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.process()
	}
}

// connectFailed moves the exchange of a connection attempt that was
// refused or timed out to another endpoint.
func (u *loopUpstream) connectFailed(err error) {
	c, pending := u.c, u.out
	u.out = nil
	u.unbind()
	u.close()
	if c == nil {
		return
	}
	if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ETIMEDOUT) {
		// Nothing was sent: another endpoint may take the request.
		u.ep.refused(c.lp.now)
		c.connect(u.ep, pending)
		return
	}
	c.fail(502, err)
}

// send writes b upstream; false when the exchange ended (it failed).
func (u *loopUpstream) send(b []byte) bool {
	if len(u.out) > 0 || u.state == upConnecting {
		u.out = append(u.out, b...)
		return true
	}
	n, err := write(u.fd, b)
	if err != nil {
		return u.broken(err)
	}
	if n < len(b) {
		u.out = append(u.out[:0], b[n:]...)
	}
	return true
}

func (u *loopUpstream) flush() bool {
	n, err := write(u.fd, u.out)
	if err != nil {
		return u.broken(err)
	}
	u.out = u.out[:copy(u.out, u.out[n:])]
	return true
}

// broken handles a failed write or read before the response completed:
// a retry on a fresh connection when the request may be sent again, the
// proxy's 502 otherwise. It returns whether the exchange goes on.
func (u *loopUpstream) broken(err error) bool {
	c := u.c
	u.unbind()
	retry := c != nil && u.reused && !u.gotBytes && c.whole && c.idempotent && !c.retried
	midway := u.state == upBody || u.gotBytes
	u.close()
	if c == nil {
		return false
	}
	if midway {
		c.abort() // the client has part of the response
		return false
	}
	if !retry {
		c.fail(502, err)
		return false
	}
	c.retried = true
	nu, derr := c.lp.dial(c.ep)
	if derr != nil {
		c.fail(502, derr)
		return false
	}
	nu.bind(c)
	return nu.send(c.req)
}

// process reads the response and forwards it to the client.
func (u *loopUpstream) process() {
	lp := u.lp
	for u.state != upClosed {
		c := u.c
		if u.state == upIdle || c == nil {
			// An idle connection has nothing to say: a close, or junk.
			var buf [1]byte
			if n, err := read(u.fd, buf[:]); n > 0 || err != nil {
				u.close()
			}
			return
		}
		if len(c.out) > 0 {
			return // the client takes no more for now
		}
		if u.r < u.w {
			switch u.state {
			case upHead:
				switch u.readHead() {
				case headDone:
					continue
				case headStop:
					return
				}
			case upBody:
				lp.wbuf = u.takeBody(lp.wbuf[:0])
				if u.respLeft == 0 {
					u.record(u.status) // before the client can see the end
				}
				if !c.send(lp.wbuf) {
					return
				}
				if u.respLeft == respBroken {
					c.abort()
					return
				}
				if u.respLeft == 0 {
					u.finish()
					return
				}
				continue
			}
		}
		if u.r == u.w {
			u.r, u.w = 0, 0
		} else if u.w == len(u.in) {
			u.w = copy(u.in, u.in[u.r:u.w])
			u.r = 0
		}
		n, err := read(u.fd, u.in[u.w:])
		if n > 0 {
			u.w += n
			u.gotBytes = true
			if u.state == upBody {
				c.deadline = lp.now + int64(c.l.idle)
			}
			continue
		}
		if err == nil {
			return
		}
		if u.state == upBody && u.respLeft == -2 && errors.Is(err, errEOF) {
			u.head.close = true
			u.respLeft = 0
			u.finish() // the body ends with the connection
			return
		}
		if u.state == upBody {
			c.abort()
			return
		}
		u.broken(err)
		return
	}
}

// respBroken is respLeft after a response body broke its framing.
const respBroken = -3

// What readHead leaves to the caller.
const (
	headMore = iota // read more bytes
	headDone        // a head was handled; look at the buffer again
	headStop        // the exchange ended or waits for the client
)

// readHead parses the response head in the buffer and starts forwarding
// the response.
func (u *loopUpstream) readHead() int {
	lp, c := u.lp, u.c
	n, err := parseResponseHead(u.in[u.r:u.w], &u.head)
	if err != nil {
		u.unbind()
		u.close()
		c.fail(502, err)
		return headStop
	}
	if n == 0 {
		if u.w-u.r == len(u.in) {
			u.unbind()
			u.close()
			c.fail(502, errors.New("response head larger than "+strconv.Itoa(upstreamBuffer)+" bytes"))
			return headStop
		}
		return headMore
	}
	hb := u.in[u.r : u.r+n]
	u.r += n
	h := &u.head
	if h.status < 200 {
		if h.status == 101 {
			u.unbind()
			u.close()
			c.fail(502, errors.New("switching protocols without an upgrade request"))
			return headStop
		}
		// Interim (100 Continue and the like): passed on as it is.
		lp.wbuf = appendResponseHead(lp.wbuf[:0], hb, h, false, nil)
		if !c.send(lp.wbuf) {
			return headStop
		}
		return headDone
	}
	if c.http10 && h.chunked {
		u.unbind()
		u.close()
		c.fail(502, errors.New("chunked response to an HTTP/1.0 request"))
		return headStop
	}
	u.status = h.status
	u.latency = lp.now - c.start
	switch {
	case c.isHead || h.status == 204 || h.status == 304:
		u.respLeft = 0
	case h.chunked:
		u.respLeft = -1
		u.chunks.reset()
	case h.contentLength >= 0:
		u.respLeft = h.contentLength
	default:
		u.respLeft = -2
	}
	// The client connection cannot carry another request when the client
	// asked so, when the body ends with the connection, or when the
	// request body was not all read.
	c.closeAfter = c.closeReq || u.respLeft == -2 || c.bodyLeft != 0 || c.l.draining.Load()
	var cookie []byte
	if c.setSticky {
		lp.cookie = c.route.stickyCookie(lp.cookie[:0], c.backend)
		cookie = lp.cookie
	}
	lp.wbuf = appendResponseHead(lp.wbuf[:0], hb, h, c.closeAfter, cookie)
	if c.http10 && !c.closeAfter {
		// An HTTP/1.0 client keeps the connection only when told so.
		lp.wbuf = append(lp.wbuf[:len(lp.wbuf)-2], "Connection: keep-alive\r\n\r\n"...)
	}
	u.state = upBody
	c.deadline = lp.now + int64(c.l.idle)
	lp.wbuf = u.takeBody(lp.wbuf)
	if u.respLeft == 0 {
		u.record(u.status) // before the client can see the end
	}
	if !c.send(lp.wbuf) {
		return headStop
	}
	if u.respLeft == respBroken {
		c.abort()
		return headStop
	}
	if u.respLeft == 0 {
		u.finish()
		return headStop
	}
	return headDone
}

// takeBody moves the buffered bytes of the response body to dst.
func (u *loopUpstream) takeBody(dst []byte) []byte {
	avail := u.in[u.r:u.w]
	var n int
	switch {
	case u.respLeft == 0:
		return dst
	case u.respLeft == -2:
		n = len(avail)
	case u.respLeft > 0:
		n = int(min(int64(len(avail)), u.respLeft))
		u.respLeft -= int64(n)
	default:
		m, done, err := u.chunks.scan(avail)
		if err != nil {
			// What came before the error goes on; then the exchange
			// breaks off, as the client can tell from the framing.
			u.lp.p.log.Debug("bad chunked response", "endpoint", u.ep.addr, "err", err)
			u.respLeft = respBroken
			u.r = u.w
			return append(dst, avail[:m]...)
		}
		n = m
		if done {
			u.respLeft = 0
		}
	}
	u.respBytes += int64(n)
	u.r += n
	return append(dst, avail[:n]...)
}

// record counts the exchange's response in the backend's metrics, once:
// with the status given, its latency up to the response head (or until
// now, without one), and the bytes so far.
func (u *loopUpstream) record(status int) {
	if u.recorded {
		return
	}
	u.recorded = true
	c := u.c
	latency := u.latency
	if u.state != upBody {
		latency = u.lp.now - c.start
	}
	c.backend.rec.Record(status, time.Duration(latency), c.reqBytes, u.respBytes)
}

// finish ends a completed exchange: the response is recorded, the
// connection pooled when it can carry another request, and the client
// connection goes on.
func (u *loopUpstream) finish() {
	lp, c := u.lp, u.c
	u.record(u.status)
	c.ep.inflight.Add(-1)
	c.ep.succeeded()
	c.ep = nil
	u.unbind()
	if u.head.close || c.bodyLeft != 0 || u.r != u.w || len(u.out) > 0 || len(lp.idle[u.ep]) >= maxIdleUpstreams {
		u.close()
	} else {
		u.state = upIdle
		u.reused = true
		u.since = lp.now
		lp.idle[u.ep] = append(lp.idle[u.ep], u)
	}
	c.endExchange()
}

func (u *loopUpstream) close() {
	if u.state == upClosed {
		return
	}
	lp := u.lp
	if u.state == upIdle {
		pool := lp.idle[u.ep]
		for i, v := range pool {
			if v == u {
				pool = append(pool[:i], pool[i+1:]...)
				break
			}
		}
		if len(pool) == 0 {
			delete(lp.idle, u.ep) // the endpoint may be gone from the config
		} else {
			lp.idle[u.ep] = pool
		}
	}
	u.state = upClosed
	lp.socks[u.fd] = sock{}
	_ = unix.Close(u.fd)
	last := lp.ups[len(lp.ups)-1]
	lp.ups[u.idx] = last
	last.idx = u.idx
	lp.ups = lp.ups[:len(lp.ups)-1]
}
