package proxy

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// maxBufferedBody is the largest response body with a Content-Length
	// that is read whole before the response is written to the client;
	// larger bodies and chunked ones stream.
	maxBufferedBody = 64 << 10
	// maxDeadlineSlack bounds how much later than its deadline a request
	// may time out (see upstreamConn.extend).
	maxDeadlineSlack = time.Second
	// callAttempts is how many times an idempotent request is sent when a
	// pooled connection turns out to be closed.
	callAttempts = 2
)

// upstreamConn is a pooled connection to an endpoint. It remembers the
// deadline set on the socket so that consecutive requests only move it
// once in a while: setting a deadline reprograms two runtime timers, which
// costs more than the rest of the request's bookkeeping.
type upstreamConn struct {
	net.Conn
	deadline int64 // unix nanoseconds; 0 when none is set
}

// extend makes the connection time out no earlier than deadline and no
// later than deadline+slack (unix nanoseconds).
func (c *upstreamConn) extend(deadline, slack int64) error {
	if c.deadline >= deadline && c.deadline <= deadline+slack {
		return nil
	}
	c.deadline = deadline + slack
	return c.Conn.SetDeadline(time.Unix(0, c.deadline))
}

// deadlineSlack is how late a request with the given timeout may time out.
func deadlineSlack(timeout time.Duration) int64 {
	return int64(min(timeout/8, maxDeadlineSlack))
}

// do sends req to the endpoint and reads the response headers into resp;
// a small body is read too, a large or chunked one is left to stream from
// resp.BodyStream. An idempotent request on a pooled connection that was
// closed meanwhile is sent once more.
func (e *endpoint) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, slack int64) error {
	req.URI().DisablePathNormalizing = true
	if len(req.Header.Host()) == 0 {
		// HTTP/1.0 needs no Host; the upstream gets its own address, as
		// from nginx.
		req.Header.SetHost(e.addr)
	}
	idempotent := req.Header.IsGet() || req.Header.IsHead() || req.Header.IsPut()
	for attempt := 1; ; attempt++ {
		retry, err := e.roundTrip(req, resp, deadline, slack)
		if err == nil {
			return nil
		}
		if !retry || !idempotent || attempt == callAttempts || !time.Now().Before(deadline) {
			if errors.Is(err, io.EOF) {
				err = fasthttp.ErrConnectionClosed
			}
			return err
		}
	}
}

// roundTrip makes one attempt; retry reports whether a failure may be
// retried on another connection.
func (e *endpoint) roundTrip(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, slack int64) (retry bool, err error) {
	hc := e.hc
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return false, fasthttp.ErrTimeout
	}
	cc, err := hc.AcquireConn(timeout, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	if uc, ok := conn.(*upstreamConn); ok {
		err = uc.extend(deadline.UnixNano(), slack)
	} else {
		err = conn.SetDeadline(deadline)
	}
	if err != nil {
		hc.CloseConn(cc)
		return true, err
	}

	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		return true, timeoutError(err)
	}

	resp.Reset()
	resp.Header.DisableNormalizing()
	br := hc.AcquireReader(conn)
	err = resp.Header.Read(br)
	if err == nil && resp.Header.StatusCode() == fasthttp.StatusContinue {
		err = resp.Header.Read(br)
	}
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, timeoutError(err)
	}
	closeConn := req.ConnectionClose() || resp.Header.ConnectionClose()
	status := resp.Header.StatusCode()
	whole := req.Header.IsHead() || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
	if whole {
		resp.SkipBody = true
	} else if n := resp.Header.ContentLength(); n >= 0 && n <= maxBufferedBody {
		whole = true
		err = resp.ReadBody(br, 0)
	}
	if whole {
		hc.ReleaseReader(br)
		if closeConn || err != nil {
			hc.CloseConn(cc)
		} else {
			hc.ReleaseConn(cc)
		}
		if err != nil {
			return true, timeoutError(err)
		}
		return false, nil
	}
	release := func(broken bool) {
		hc.ReleaseReader(br)
		if closeConn || broken {
			hc.CloseConn(cc)
		} else {
			hc.ReleaseConn(cc)
		}
	}

	// A large or chunked body streams: a Response of its own decodes it,
	// and the connection goes back to the pool once it is read to the end.
	body := &upstreamBody{dec: fasthttp.AcquireResponse(), release: release}
	body.dec.StreamBody = true
	body.dec.Header.SetContentLength(resp.Header.ContentLength())
	if err = body.dec.ReadBody(br, maxBufferedBody); err != nil {
		body.CloseWithError(err)
		return true, timeoutError(err)
	}
	resp.SetBodyStream(body, resp.Header.ContentLength())
	return false, nil
}

// upstreamBody streams a response body from a pooled connection.
type upstreamBody struct {
	dec     *fasthttp.Response
	release func(broken bool)
	eof     bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.dec.BodyStream().Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

// CloseWithError gives the connection back, or closes it when the body
// was not read to its end.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.dec == nil {
		return nil
	}
	_ = b.dec.CloseBodyStream()
	fasthttp.ReleaseResponse(b.dec)
	b.dec = nil
	b.release(err != nil || !b.eof)
	return nil
}

// timeoutError turns socket timeouts into fasthttp.ErrTimeout.
func timeoutError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.ErrTimeout
	}
	return err
}

// dialUpstream connects to an endpoint.
func dialUpstream(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	return &upstreamConn{Conn: c}, nil
}

var _ fasthttp.ReadCloserWithError = (*upstreamBody)(nil)
