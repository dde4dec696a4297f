package proxy

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/serinhq/serin/internal/telemetry"
)

// route is the compiled, immutable form of a Route that requests read
// through an atomic pointer; a new configuration builds new ones.
type route struct {
	cfg      Route
	backends []*backend
	// cum holds the cumulative weights of backends; total is the last.
	cum     []uint64
	total   uint64
	matches []matcher
	mirror  *backend
	// mirrorPercent of the requests are mirrored.
	mirrorPercent uint64
	sticky        []byte // cookie name, nil without stickiness
	stickyMaxAge  int
	stickyAttrs   []byte // replace the defaults when set
	timeout       time.Duration
	roundRobin    bool
	// loopable is true when an event loop can serve the route's
	// HTTP/1.1 requests itself.
	loopable bool
}

// backend is a Backend with its endpoints and its telemetry recorder.
type backend struct {
	name      string
	weight    int
	endpoints []*endpoint
	rec       *telemetry.Recorder
	rr        atomic.Uint64 // round-robin cursor
}

// matcher is a compiled MatchRule.
type matcher struct {
	headers []condition
	cookies []condition
	backend *backend
}

type condition struct {
	name   []byte
	exact  []byte
	prefix []byte
	regex  *regexp.Regexp
}

func compileCondition(name string, m StringMatch) condition {
	c := condition{name: []byte(name)}
	switch {
	case m.Regex != "":
		c.regex = regexp.MustCompile(m.Regex) // validated before
	case m.Prefix != "":
		c.prefix = []byte(m.Prefix)
	default:
		c.exact = []byte(m.Exact)
	}
	return c
}

func (c *condition) match(v []byte, present bool) bool {
	if !present {
		return false
	}
	switch {
	case c.regex != nil:
		return c.regex.Match(v)
	case c.prefix != nil:
		return bytes.HasPrefix(v, c.prefix)
	default:
		return bytes.Equal(v, c.exact)
	}
}

// request is what the choice reads of a request, whichever server parsed it.
type request interface {
	// Header returns the value of a header and whether it is present.
	HeaderValue(name []byte) ([]byte, bool)
	// Cookie returns the value of a cookie and whether it is present.
	CookieValue(name []byte) ([]byte, bool)
}

func (m *matcher) match(req request) bool {
	for i := range m.headers {
		c := &m.headers[i]
		if v, ok := req.HeaderValue(c.name); !c.match(v, ok) {
			return false
		}
	}
	for i := range m.cookies {
		c := &m.cookies[i]
		if v, ok := req.CookieValue(c.name); !c.match(v, ok) {
			return false
		}
	}
	return true
}

// choice is the outcome of choosing a backend for a request.
type choice struct {
	backend *backend
	// setSticky asks for the sticky cookie to be set on the response.
	setSticky bool
	// mirror is true when a copy of the request goes to route.mirror.
	mirror bool
}

// choose picks the backend of a request: the first matching A/B rule, else
// the backend named by a valid sticky cookie, else a weighted random choice
// drawn from rnd, which returns uniformly distributed 64-bit numbers.
func (r *route) choose(req request, rnd func() uint64) choice {
	var c choice
	for i := range r.matches {
		if r.matches[i].match(req) {
			c.backend = r.matches[i].backend
			break
		}
	}
	if c.backend == nil && r.sticky != nil {
		if v, ok := req.CookieValue(r.sticky); ok {
			if b := r.byName(v); b != nil && b.weight > 0 {
				c.backend = b
			}
		}
		c.setSticky = c.backend == nil
	}
	if c.backend == nil {
		c.backend = r.backends[pickWeighted(r.cum, rnd()%r.total)]
	}
	if r.mirror != nil && r.mirror != c.backend && r.mirrorPercent > 0 {
		c.mirror = r.mirrorPercent >= 100 || rnd()%100 < r.mirrorPercent
	}
	return c
}

func (r *route) byName(name []byte) *backend {
	for _, b := range r.backends {
		if b.name == string(name) {
			return b
		}
	}
	return nil
}

// pickWeighted returns the index i such that cum[i-1] <= x < cum[i]: with
// x uniform in [0, cum[len-1]), index i comes up with probability
// proportional to its weight, and a zero weight never.
func pickWeighted(cum []uint64, x uint64) int {
	if len(cum) <= 4 {
		for i, c := range cum {
			if x < c {
				return i
			}
		}
		return len(cum) - 1
	}
	i, _ := slices.BinarySearchFunc(cum, x, func(c, x uint64) int {
		if c <= x {
			return -1
		}
		return 1
	})
	return min(i, len(cum)-1)
}

// stickyCookie renders the Set-Cookie value for backend b.
func (r *route) stickyCookie(dst []byte, b *backend) []byte {
	dst = append(dst, r.sticky...)
	dst = append(dst, '=')
	dst = append(dst, b.name...)
	if len(r.stickyAttrs) > 0 {
		return append(dst, r.stickyAttrs...)
	}
	dst = append(dst, "; Path=/; HttpOnly"...)
	if r.stickyMaxAge > 0 {
		dst = append(dst, "; Max-Age="...)
		dst = strconv.AppendInt(dst, int64(r.stickyMaxAge), 10)
	}
	return dst
}
