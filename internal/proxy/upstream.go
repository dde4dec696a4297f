package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// dialTimeout bounds a connection attempt to an endpoint.
	dialTimeout = 3 * time.Second
	// ejectBase and ejectMax bound how long an endpoint that refused a
	// connection is skipped; the time doubles with each refusal in a row.
	ejectBase = 500 * time.Millisecond
	ejectMax  = 30 * time.Second
	// maxConnsPerEndpoint caps the pooled keep-alive connections.
	maxConnsPerEndpoint = 4096
)

// endpoint is one upstream address with its pool of keep-alive
// connections. Endpoints are shared by every configuration that names the
// address, so reconfiguring keeps the pools warm.
type endpoint struct {
	addr     string
	ap       netip.AddrPort // addr parsed; invalid for a host name
	hc       *fasthttp.HostClient
	inflight atomic.Int64
	// downUntil is the unix time in nanoseconds until which the endpoint
	// is skipped; 0 when healthy.
	downUntil atomic.Int64
	refusals  atomic.Int32
}

func newEndpoint(addr string) *endpoint {
	return &endpoint{
		addr: addr,
		ap:   parseAddrPort(addr),
		hc: &fasthttp.HostClient{
			Addr:                          addr,
			Dial:                          dialUpstream,
			MaxConns:                      maxConnsPerEndpoint,
			MaxIdleConnDuration:           defaultIdleTimeout,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			NoDefaultUserAgentHeader:      true,
			WriteBufferSize:               16 << 10,
			ConnPoolStrategy:              fasthttp.LIFO,
		},
	}
}

// parseAddrPort parses an endpoint address of an IP literal (localhost
// counts as 127.0.0.1) and port; the result is invalid for a host name.
func parseAddrPort(addr string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "localhost" {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort("127.0.0.1:" + port)
	return ap
}

// healthy reports whether the endpoint may be picked at now (unix ns).
func (e *endpoint) healthy(now func() int64) bool {
	d := e.downUntil.Load()
	return d == 0 || d <= now()
}

// refused marks the endpoint down after a refused connection.
func (e *endpoint) refused(now int64) {
	n := min(e.refusals.Add(1), 16)
	d := min(ejectBase<<(n-1), ejectMax)
	e.downUntil.Store(now + int64(d))
}

// succeeded clears the endpoint's refusals.
func (e *endpoint) succeeded() {
	if e.downUntil.Load() != 0 {
		e.downUntil.Store(0)
		e.refusals.Store(0)
	}
}

// pickEndpoint chooses an endpoint of b other than skip: the less busy of
// two random healthy ones, or the next healthy one in turn. When none is
// healthy it still returns one (its refusal will answer the request), and
// nil only when every endpoint is skip.
func (b *backend) pickEndpoint(roundRobin bool, rnd func() uint64, now func() int64, skip *endpoint) *endpoint {
	eps := b.endpoints
	n := uint64(len(eps))
	if n == 1 {
		if eps[0] == skip {
			return nil
		}
		return eps[0]
	}
	usable := func(e *endpoint) bool { return e != skip && e.healthy(now) }
	var start uint64
	if roundRobin {
		start = b.rr.Add(1) - 1
	} else {
		i := rnd() % n
		j := (i + 1 + rnd()%(n-1)) % n
		a, c := eps[i], eps[j]
		switch ua, uc := usable(a), usable(c); {
		case ua && uc:
			if c.inflight.Load() < a.inflight.Load() {
				return c
			}
			return a
		case ua:
			return a
		case uc:
			return c
		}
		start = i
	}
	var fallback *endpoint
	for k := range n {
		e := eps[(start+k)%n]
		if e == skip {
			continue
		}
		if e.healthy(now) {
			return e
		}
		if fallback == nil {
			fallback = e
		}
	}
	return fallback
}

// isRefused reports whether err means the endpoint could not be reached:
// nothing was sent, so the request may go to another endpoint.
func isRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
