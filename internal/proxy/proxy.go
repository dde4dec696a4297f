package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/serinhq/serin/internal/telemetry"
)

// Options configure a Proxy.
type Options struct {
	// Store receives the golden metrics of every backend; a private one is
	// created when nil.
	Store *telemetry.Store
	// Logger logs connection and upstream errors; nothing is logged when nil.
	Logger *slog.Logger
	// Rand is the randomness behind backend choices, endpoint choices and
	// mirroring; it is called under a lock. When nil, a PCG seeded with
	// Seed is used.
	Rand rand.Source
	Seed uint64
	// DrainTimeout bounds how long a removed route's listener waits for its
	// in-flight requests (30s when zero).
	DrainTimeout time.Duration
	// HeaderTimeout is the request-head deadline of the routes that set
	// no HeaderTimeout of their own (DefaultHeaderTimeout when zero).
	HeaderTimeout time.Duration
	// MirrorQueue is how many mirrored requests may wait to be sent; more
	// are dropped so that mirroring never delays a request (256 when zero).
	MirrorQueue int
	// DisableEventLoop serves HTTP/1.1 with goroutines and fasthttp only,
	// as on systems other than Linux.
	DisableEventLoop bool
	// EventLoops is how many event loops serve the proxy's listeners,
	// each on a goroutine of its own (GOMAXPROCS when zero).
	EventLoops int
}

// Proxy is serin's L7 data plane: it listens on each route's address and
// forwards every request to one of the route's backends.
type Proxy struct {
	store        *telemetry.Store
	log          *slog.Logger
	drainTimeout time.Duration
	headTimeout  time.Duration
	eventLoops   int // 0 without the event loop

	// The event loops, shared by the listeners: started with the first
	// listener, stopped by Shutdown. nextAcceptor is the loop that
	// watches the next listener's socket (under mu).
	loopsMu      sync.Mutex
	loops        []*eventLoop
	nextAcceptor int

	rmu sync.Mutex
	src rand.Source
	rnd func() uint64 // p.random, bound once
	now func() int64  // unix nanoseconds, for passive health

	mirrors chan mirrorJob
	workers sync.WaitGroup

	// bufs holds *[]byte scratch space for building header values.
	bufs sync.Pool

	mu        sync.Mutex // serialises Apply and Shutdown
	cfg       Config
	listeners map[string]*listener // by Route.Listen
	endpoints map[string]*endpoint // by address
	draining  sync.WaitGroup
	closed    bool

	h1Transport  *http.Transport // for requests arriving over h2c
	h2cTransport *http.Transport
}

// New returns a Proxy with no routes; Apply gives it some.
func New(opts Options) (*Proxy, error) {
	if opts.DrainTimeout < 0 || opts.HeaderTimeout < 0 || opts.MirrorQueue < 0 || opts.EventLoops < 0 {
		return nil, errors.New("new proxy: drain timeout, header timeout, mirror queue and event loops must not be negative")
	}
	p := &Proxy{
		store:        opts.Store,
		log:          opts.Logger,
		drainTimeout: opts.DrainTimeout,
		headTimeout:  opts.HeaderTimeout,
		eventLoops:   opts.EventLoops,
		src:          opts.Rand,
		listeners:    map[string]*listener{},
		endpoints:    map[string]*endpoint{},
	}
	if p.store == nil {
		p.store = telemetry.NewStore()
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case opts.DisableEventLoop:
		p.eventLoops = 0
	case p.eventLoops == 0:
		p.eventLoops = runtime.GOMAXPROCS(0)
	}
	if p.drainTimeout == 0 {
		p.drainTimeout = 30 * time.Second
	}
	if p.headTimeout == 0 {
		p.headTimeout = DefaultHeaderTimeout
	}
	if p.src == nil {
		p.src = rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)
	}
	p.rnd = p.random
	p.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	p.now = func() int64 { return time.Now().UnixNano() }
	q := opts.MirrorQueue
	if q == 0 {
		q = 256
	}
	p.mirrors = make(chan mirrorJob, q)
	for range mirrorWorkers {
		p.workers.Add(1)
		go p.mirrorLoop()
	}
	p.h1Transport, p.h2cTransport = newTransports()
	return p, nil
}

func (p *Proxy) random() uint64 {
	p.rmu.Lock()
	v := p.src.Uint64()
	p.rmu.Unlock()
	return v
}

// Store returns the telemetry store the proxy records into.
func (p *Proxy) Store() *telemetry.Store { return p.store }

// Config returns the configuration in effect, defaulted.
func (p *Proxy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.clone()
}

// Addrs maps each route's name to the address its listener is bound to,
// which tells the port chosen for a route listening on port 0.
func (p *Proxy) Addrs() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.cfg.Routes))
	for _, r := range p.cfg.Routes {
		if l := p.listeners[r.Listen]; l != nil {
			out[r.Name] = l.ln.Addr().String()
		}
	}
	return out
}

// Apply validates cfg and, when it is valid and every new listener could be
// bound, makes it the configuration in effect in one step: requests that
// started before keep the backend they chose, later ones see only cfg.
// Listeners of removed routes stop accepting and drain in the background.
// On error (a *ConfigError for an invalid config or an address in use) the
// previous configuration stays in effect.
func (p *Proxy) Apply(cfg Config) error {
	cfg = cfg.clone()
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("apply proxy config: proxy is shut down")
	}

	endpoints := make(map[string]*endpoint, len(p.endpoints))
	routes := make([]*route, len(cfg.Routes))
	for i := range cfg.Routes {
		routes[i] = p.compile(cfg.Routes[i], endpoints)
	}

	listeners := make(map[string]*listener, len(cfg.Routes))
	var bound []*listener
	for i, r := range cfg.Routes {
		if l, ok := p.listeners[r.Listen]; ok {
			listeners[r.Listen] = l
			continue
		}
		ln, err := net.Listen("tcp", r.Listen)
		if err != nil {
			for _, l := range bound {
				_ = l.ln.Close()
			}
			return &ConfigError{Problems: []string{fmt.Sprintf("routes[%d].listen: %v", i, err)}}
		}
		l := p.newListener(ln, r)
		listeners[r.Listen] = l
		bound = append(bound, l)
	}

	for i, r := range cfg.Routes {
		listeners[r.Listen].route.Store(routes[i])
	}
	for _, l := range bound {
		l.start()
	}
	for addr, l := range p.listeners {
		if _, kept := listeners[addr]; !kept {
			p.draining.Add(1)
			go func() {
				defer p.draining.Done()
				ctx, cancel := context.WithTimeout(context.Background(), p.drainTimeout)
				defer cancel()
				if err := l.shutdown(ctx); err != nil {
					p.log.Warn("route drain incomplete", "listen", addr, "err", err)
				}
			}()
		}
	}
	for addr, e := range p.endpoints {
		if _, kept := endpoints[addr]; !kept {
			e.hc.CloseIdleConnections()
		}
	}
	p.listeners, p.endpoints, p.cfg = listeners, endpoints, cfg
	p.log.Info("proxy config applied", "routes", len(cfg.Routes))
	return nil
}

// compile builds the request-time form of r, taking endpoints from the
// current pools where they exist. Caller holds p.mu.
func (p *Proxy) compile(r Route, endpoints map[string]*endpoint) *route {
	rt := &route{
		cfg:        r,
		timeout:    time.Duration(r.Timeout),
		roundRobin: r.LoadBalancer == RoundRobin,
	}
	if rt.timeout == 0 {
		rt.timeout = defaultTimeout
	}
	byName := map[string]*backend{}
	var total uint64
	for _, b := range r.Backends {
		be := &backend{
			name:   b.Name,
			weight: b.Weight,
			rec:    p.store.Recorder(telemetry.BackendKey{Namespace: b.Namespace, Deployment: b.Deployment}),
		}
		for _, addr := range b.Endpoints {
			e, ok := endpoints[addr]
			if !ok {
				if e, ok = p.endpoints[addr]; !ok {
					e = newEndpoint(addr)
				}
				endpoints[addr] = e
			}
			be.endpoints = append(be.endpoints, e)
		}
		total += uint64(b.Weight)
		rt.backends = append(rt.backends, be)
		rt.cum = append(rt.cum, total)
		byName[b.Name] = be
	}
	rt.total = total
	for _, m := range r.Match {
		cm := matcher{backend: byName[m.Backend]}
		for _, h := range sortedKeys(m.Headers) {
			cm.headers = append(cm.headers, compileCondition(h, m.Headers[h]))
		}
		for _, c := range sortedKeys(m.Cookies) {
			cm.cookies = append(cm.cookies, compileCondition(c, m.Cookies[c]))
		}
		rt.matches = append(rt.matches, cm)
	}
	if r.Mirror != nil && r.Mirror.Percent > 0 {
		rt.mirror = byName[r.Mirror.Backend]
		rt.mirrorPercent = uint64(r.Mirror.Percent)
	}
	// The event loop dials IP addresses only.
	rt.loopable = true
	for _, b := range rt.backends {
		for _, e := range b.endpoints {
			rt.loopable = rt.loopable && e.ap.IsValid()
		}
	}
	if r.Sticky != nil {
		rt.sticky = []byte(r.Sticky.Cookie)
		rt.stickyMaxAge = r.Sticky.MaxAge
		rt.stickyAttrs = []byte(r.Sticky.Attributes)
	}
	return rt
}

// Shutdown stops accepting connections on every route and waits until the
// in-flight requests are done or ctx ends, then closes what remains.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	listeners := p.listeners
	p.listeners = map[string]*listener{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.shutdown(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	drained := make(chan struct{})
	go func() { p.draining.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		all = append(all, ctx.Err())
	}
	p.stopEventLoops()
	close(p.mirrors)
	p.workers.Wait()
	for _, e := range p.endpoints {
		e.hc.CloseIdleConnections()
	}
	p.h1Transport.CloseIdleConnections()
	p.h2cTransport.CloseIdleConnections()
	if err := errors.Join(all...); err != nil {
		return fmt.Errorf("shut down proxy: %w", err)
	}
	return nil
}

func (c Config) clone() Config {
	out := Config{Routes: make([]Route, len(c.Routes))}
	for i, r := range c.Routes {
		r.Backends = append([]Backend(nil), r.Backends...)
		for j := range r.Backends {
			r.Backends[j].Endpoints = append([]string(nil), r.Backends[j].Endpoints...)
		}
		if r.Match != nil {
			ms := make([]MatchRule, len(r.Match))
			for j, m := range r.Match {
				ms[j] = MatchRule{Backend: m.Backend, Headers: cloneMap(m.Headers), Cookies: cloneMap(m.Cookies)}
			}
			r.Match = ms
		}
		if r.Mirror != nil {
			m := *r.Mirror
			r.Mirror = &m
		}
		if r.Sticky != nil {
			s := *r.Sticky
			r.Sticky = &s
		}
		out.Routes[i] = r
	}
	return out
}

func cloneMap(m map[string]StringMatch) map[string]StringMatch {
	if m == nil {
		return nil
	}
	out := make(map[string]StringMatch, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
