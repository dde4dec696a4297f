package cli

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/metrics/prometheus"
)

// dashboardFlags choose what serin dashboard shows: the local instance,
// or a cluster as the kubectl-like commands resolve it.
type dashboardFlags struct {
	tf         targetFlags
	prometheus string
}

func (f *dashboardFlags) add(cmd *cobra.Command) {
	f.tf.add(cmd)
	cmd.Flags().StringVar(&f.prometheus, "prometheus", "", "on a cluster: Prometheus with Linkerd's metrics for the golden metrics (e.g. http://localhost:9090 after `kubectl -n linkerd-viz port-forward svc/prometheus 9090`); without it they show as dashes")
}

// source is the dashboard's Source: the local instance, or a watch of
// the cluster's objects that runs until ctx ends (errc then receives
// Start's result). where says which, for the banner. On a cluster the
// dashboard must listen on loopback: it acts with the user's
// credentials.
func (f *dashboardFlags) source(ctx context.Context, listen string, errw io.Writer) (src dashboard.Source, where string, errc <-chan error, err error) {
	if !f.tf.wantsCluster() {
		if f.prometheus != "" {
			return nil, "", nil, fmt.Errorf("--prometheus: served on a cluster only; the local instance measures its own traffic")
		}
		if f.tf.all || f.tf.namespace != "" {
			return nil, "", nil, fmt.Errorf("-n and -A: served on a cluster only; the local dashboard shows every namespace")
		}
		return local.NewClient(f.tf.stateDir), "state in " + f.tf.stateDir, nil, nil
	}
	if !dashboard.IsLoopback(listen) {
		return nil, "", nil, fmt.Errorf("--listen %s: on a cluster the dashboard acts with your kubeconfig's credentials, so it listens on loopback only (e.g. 127.0.0.1:9999); serve it to others from the controller (serin controller --dashboard-addr)", listen)
	}
	cfg, defaultNS, err := cluster.Load(f.tf.cluster)
	if err != nil {
		return nil, "", nil, err
	}
	ns := defaultNS
	switch {
	case f.tf.all && f.tf.namespace != "":
		return nil, "", nil, fmt.Errorf("-A and -n exclude each other")
	case f.tf.all:
		ns = ""
	case f.tf.namespace != "":
		ns = f.tf.namespace
	}
	o := cluster.WatchOptions{Namespace: ns}
	if f.prometheus != "" {
		q, err := prometheus.NewClient(prometheus.Config{Address: f.prometheus})
		if err != nil {
			return nil, "", nil, fmt.Errorf("--prometheus: %w", err)
		}
		o.Prometheus = q
	} else {
		fmt.Fprintln(errw, "no --prometheus: the golden metrics show as dashes")
	}
	w, err := cluster.NewWatcher(cfg, o)
	if err != nil {
		return nil, "", nil, err
	}
	c := make(chan error, 1)
	go func() { c <- w.Start(ctx) }()
	where = "cluster " + cfg.Host + ", namespace " + ns
	if ns == "" {
		where = "cluster " + cfg.Host + ", every namespace"
	}
	return w, where, c, nil
}

// serveDashboard serves src on ln, its API behind auth, until ctx ends
// or the cluster's watch (watchErr, nil for the local instance) fails.
func serveDashboard(ctx context.Context, cancel context.CancelFunc, ln net.Listener, src dashboard.Source, auth dashboard.Authenticator, watchErr <-chan error) error {
	h := dashboard.New(dashboard.Options{Source: src, Auth: auth, Addr: ln.Addr().String(), Context: ctx})
	served := make(chan error, 1)
	go func() { served <- dashboard.Serve(ctx, ln, h) }()
	select {
	case err := <-served:
		cancel()
		if watchErr != nil {
			if werr := <-watchErr; werr != nil {
				return werr
			}
		}
		return err
	case err := <-watchErr:
		cancel()
		serr := <-served
		if err != nil {
			return err
		}
		return serr
	}
}
