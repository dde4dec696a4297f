package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/metrics/prometheus"
)

// addDashboard serves serin's dashboard on o.DashboardAddr from every
// replica: the Canaries, Deployments, pods and events of o.Namespace (or
// every namespace) from watches of the controller's own, and the golden
// metrics from o.MetricsServer. Each request is authorised as its caller:
// a Kubernetes bearer token checked by TokenReview, and what the caller's
// RBAC allows on Canaries (SubjectAccessReview).
func addDashboard(mgr ctrl.Manager, cfg *rest.Config, o Options) error {
	var q cluster.Querier
	if o.MetricsServer != "" {
		c, err := prometheus.NewClient(prometheus.Config{Address: o.MetricsServer, Transport: o.Transport})
		if err != nil {
			return fmt.Errorf("dashboard: --metrics-server: %w", err)
		}
		q = c
	}
	w, err := cluster.NewWatcher(cfg, cluster.WatchOptions{Namespace: o.Namespace, Prometheus: q, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	auth, err := cluster.NewTokenAuthenticator(cfg, cluster.TokenAuthOptions{})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if err := mgr.Add(w); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	h := requireCaller(auth, dashboard.New(dashboard.Options{Source: w, Auth: auth}))
	if err := mgr.Add(&httpServer{addr: o.DashboardAddr, handler: h}); err != nil {
		return fmt.Errorf("dashboard on %s: %w", o.DashboardAddr, err)
	}
	return nil
}

// requireCaller answers 401, with no data, every request under /api/ that
// does not authenticate, whatever the handler behind does with Auth: the
// controller's dashboard is never open to anonymous callers.
func requireCaller(auth dashboard.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if _, err := auth.Authenticate(r); err != nil {
				code := http.StatusBadGateway
				if errors.Is(err, dashboard.ErrUnauthenticated) {
					code = http.StatusUnauthorized
					w.Header().Set("WWW-Authenticate", `Bearer realm="serin"`)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(code)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
