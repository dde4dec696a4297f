package kube

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/metrics/prometheus"
)

// addDashboard serves serin's dashboard on o.DashboardAddr from every
// replica: the Canaries, Deployments, pods and events of o.Namespace (or
// every namespace) from watches of the controller's own, and the golden
// metrics from o.MetricsServer. Each request is authorised as its caller:
// a Kubernetes bearer token checked by TokenReview, and what the caller's
// RBAC allows on Canaries (SubjectAccessReview); the dashboard answers 401
// without one.
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
	opts := dashboard.Options{Source: w, Auth: auth, Addr: o.DashboardAddr}
	if err := mgr.Add(dashboardServer{opts}); err != nil {
		return fmt.Errorf("dashboard on %s: %w", o.DashboardAddr, err)
	}
	return nil
}

// dashboardServer serves the dashboard on every replica, its recorder of
// the Canaries' history running as long as the manager.
type dashboardServer struct{ opts dashboard.Options }

var _ manager.LeaderElectionRunnable = dashboardServer{}

func (dashboardServer) NeedLeaderElection() bool { return false }

func (s dashboardServer) Start(ctx context.Context) error {
	s.opts.Context = ctx
	return (&httpServer{addr: s.opts.Addr, handler: dashboard.New(s.opts)}).Start(ctx)
}
