package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrl "sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// endpoints returns the HTTP servers of the controller, one per address:
// /metrics on metricsAddr, /healthz and /readyz on healthAddr. When both
// are the same address (Flagger's -port), one server serves all three. An
// empty address or "0" disables its endpoints. ready reports whether the
// informer caches have synced.
func endpoints(metricsAddr, healthAddr string, reg *prometheus.Registry, ready *atomic.Bool) []*httpServer {
	muxes := map[string]*http.ServeMux{}
	var order []string
	mux := func(addr string) *http.ServeMux {
		m, ok := muxes[addr]
		if !ok {
			m = http.NewServeMux()
			muxes[addr] = m
			order = append(order, addr)
		}
		return m
	}
	if enabled(metricsAddr) {
		h := promhttp.HandlerFor(prometheus.Gatherers{reg, ctrlmetrics.Registry}, promhttp.HandlerOpts{})
		mux(metricsAddr).Handle("/metrics", h)
	}
	if enabled(healthAddr) {
		m := mux(healthAddr)
		live := &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}
		readyz := &healthz.Handler{Checks: map[string]healthz.Checker{"informers": func(*http.Request) error {
			if !ready.Load() {
				return errors.New("informer caches not synced")
			}
			return nil
		}}}
		for path, h := range map[string]http.Handler{"/healthz": live, "/readyz": readyz} {
			m.Handle(path, http.StripPrefix(path, h))
			m.Handle(path+"/", http.StripPrefix(path, h))
		}
	}
	out := make([]*httpServer, 0, len(order))
	for _, addr := range order {
		out = append(out, &httpServer{addr: addr, handler: muxes[addr]})
	}
	return out
}

func enabled(addr string) bool { return addr != "" && addr != "0" }

// httpServer serves a handler as a manager runnable on every replica,
// leader or not.
type httpServer struct {
	addr    string
	handler http.Handler
}

var (
	_ ctrl.Runnable               = (*httpServer)(nil)
	_ ctrl.LeaderElectionRunnable = (*httpServer)(nil)
)

func (s *httpServer) NeedLeaderElection() bool { return false }

func (s *httpServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", s.addr, err)
	}
}
