package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	dataplane "github.com/serinhq/serin/internal/proxy"
	"github.com/serinhq/serin/internal/telemetry"
	trafficproxy "github.com/serinhq/serin/internal/traffic/proxy"
)

// ProxyPlane is the DataPlane over serin's in-process proxy. Routes
// without a ready backend go to a small server that answers 503 and says
// why, since the proxy needs an endpoint for every route.
type ProxyPlane struct {
	proxy       *dataplane.Proxy
	unavailable *http.Server
	addr        string
}

// NewProxyPlane starts the proxy and its fallback server.
func NewProxyPlane(store *telemetry.Store, log *slog.Logger) (*ProxyPlane, error) {
	p, err := dataplane.New(dataplane.Options{Store: store, Logger: log, DrainTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start proxy fallback: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no ready pods behind this service yet (see `serin get pods` and `serin events`)", http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &ProxyPlane{proxy: p, unavailable: srv, addr: ln.Addr().String()}, nil
}

// Apply converts the routes into the proxy's configuration and applies it.
func (pp *ProxyPlane) Apply(routes []Route) error {
	cfg := dataplane.Config{}
	for _, r := range routes {
		cfg.Routes = append(cfg.Routes, pp.route(r))
	}
	err := pp.proxy.Apply(cfg)
	var ce *dataplane.ConfigError
	if errors.As(err, &ce) {
		return explainListenError(ce, routes, err)
	}
	return err
}

func (pp *ProxyPlane) route(r Route) dataplane.Route {
	listen := r.Addr
	fallback := dataplane.Backend{Name: "unavailable", Namespace: r.Namespace, Deployment: "unavailable", Weight: 1, Endpoints: []string{pp.addr}}
	if c := r.Canary; c != nil {
		return trafficproxy.Route(r.Name, listen, c.Canary, c.Routes, proxyBackend(c.Primary), proxyBackend(c.Target), fallback)
	}
	rt := dataplane.Route{Name: r.Name, Listen: listen}
	for _, b := range r.Backends {
		if len(b.Endpoints) > 0 && b.Weight > 0 {
			rt.Backends = append(rt.Backends, proxyBackend(b))
		}
	}
	if len(rt.Backends) == 0 {
		rt.Backends = []dataplane.Backend{fallback}
	}
	return rt
}

func proxyBackend(b Backend) dataplane.Backend {
	return dataplane.Backend{Name: b.Name, Namespace: b.Namespace, Deployment: b.Deployment, Weight: b.Weight, Endpoints: b.Endpoints}
}

// PortInUseError says which Service could not listen on its port.
type PortInUseError struct {
	Namespace, Service string
	Port               int32
	Err                error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("service %s/%s: port %d on 127.0.0.1 is already in use (%v); stop what uses it or change spec.ports[].port of the Service",
		e.Namespace, e.Service, e.Port, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// explainListenError names the Service behind a listen error.
func explainListenError(ce *dataplane.ConfigError, routes []Route, err error) error {
	for _, p := range ce.Problems {
		var i int
		if _, scanErr := fmt.Sscanf(p, "routes[%d].listen:", &i); scanErr != nil || i < 0 || i >= len(routes) {
			continue
		}
		if strings.Contains(p, "address already in use") || strings.Contains(p, "permission denied") {
			r := routes[i]
			return &PortInUseError{Namespace: r.Namespace, Service: r.Service, Port: r.Port, Err: err}
		}
	}
	return err
}

// Shutdown closes the listeners and the fallback server.
func (pp *ProxyPlane) Shutdown(ctx context.Context) error {
	err := pp.proxy.Shutdown(ctx)
	return errors.Join(err, pp.unavailable.Shutdown(ctx))
}
