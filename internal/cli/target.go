package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

// target is what the kubectl-like commands need of a runtime: the local
// instance (through its API socket) or a cluster (through client-go).
type target interface {
	// DefaultNamespace is the namespace a command acts in without -n:
	// the kubeconfig context's on a cluster; locally "" (every namespace,
	// or the only one holding the named object).
	DefaultNamespace() string
	Canaries(ctx context.Context, ns string) ([]v1beta1.Canary, error)
	Deployments(ctx context.Context, ns string) ([]local.DeploymentView, error)
	Routes(ctx context.Context, ns string) ([]cluster.Route, error)
	Events(ctx context.Context, ns string, watch bool, f func(local.Event) error) error
	Command(ctx context.Context, ns, name string, c rollout.Command) error
	SetImage(ctx context.Context, r local.SetImageRequest) error
	Logs(ctx context.Context, ns, deployment string, follow bool, w io.Writer) error
}

// targetFlags are the flags of the commands that act on the local
// instance or a cluster, kubectl's among them.
type targetFlags struct {
	localFlags
	cluster cluster.Options
	all     bool
	// stateDirSet is whether --state-dir was given: then the local
	// instance is meant.
	stateDirSet func() bool
}

func (f *targetFlags) add(cmd *cobra.Command) {
	f.localFlags.add(cmd)
	cmd.Flags().StringVar(&f.cluster.Kubeconfig, "kubeconfig", "", "act on the cluster of this kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster, when no local instance runs)")
	cmd.Flags().StringVar(&f.cluster.Context, "context", "", "kubeconfig context to use (a cluster is meant)")
	cmd.Flags().BoolVarP(&f.all, "all-namespaces", "A", false, "every namespace")
	f.stateDirSet = func() bool { return cmd.Flags().Changed("state-dir") }
}

// target picks the runtime: the cluster when --kubeconfig or --context
// names one; the local instance when --state-dir is given or one runs;
// otherwise a cluster when a kubeconfig (or the in-cluster config) is
// present; otherwise the local instance, whose client explains how to
// start one.
func (f *targetFlags) target() (target, error) {
	if !f.wantsCluster() {
		return localTarget{f.client()}, nil
	}
	c, err := cluster.New(f.cluster)
	if err != nil {
		return nil, err
	}
	return clusterTarget{c}, nil
}

// wantsCluster reports whether the flags mean a cluster, as target
// picks.
func (f *targetFlags) wantsCluster() bool {
	if f.cluster.Named() {
		return true
	}
	if f.stateDirSet() || localRunning(f.stateDir) {
		return false
	}
	return cluster.Available(f.cluster)
}

// ns is the namespace to act in: -n, every namespace with -A, or the
// target's default.
func (f *targetFlags) ns(t target) (string, error) {
	switch {
	case f.all && f.namespace != "":
		return "", errors.New("-A and -n exclude each other")
	case f.all:
		return "", nil
	case f.namespace != "":
		return f.namespace, nil
	}
	return t.DefaultNamespace(), nil
}

// localRunning reports whether a local instance answers on stateDir.
func localRunning(stateDir string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.Dial("unix", local.SocketPath(stateDir))
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// localTarget is the local instance.
type localTarget struct{ c *local.Client }

func (localTarget) DefaultNamespace() string { return "" }

func (l localTarget) Canaries(ctx context.Context, ns string) ([]v1beta1.Canary, error) {
	snap, err := l.c.Snapshot(ctx)
	var out []v1beta1.Canary
	for _, c := range snap.Canaries {
		if ns == "" || c.Namespace == ns {
			out = append(out, c)
		}
	}
	return out, err
}

func (l localTarget) Deployments(ctx context.Context, ns string) ([]local.DeploymentView, error) {
	snap, err := l.c.Snapshot(ctx)
	var out []local.DeploymentView
	for _, d := range snap.Deployments {
		if ns == "" || d.Deployment.Namespace == ns {
			out = append(out, d)
		}
	}
	return out, err
}

// Routes are locally the Services of a Canary: serin's proxy splits their
// traffic between the Deployments.
func (l localTarget) Routes(ctx context.Context, ns string) ([]cluster.Route, error) {
	snap, err := l.c.Snapshot(ctx)
	var out []cluster.Route
	for _, s := range snap.Services {
		if s.Canary == "" || (ns != "" && s.Service.Namespace != ns) {
			continue
		}
		r := cluster.Route{Kind: "Service", Namespace: s.Service.Namespace, Name: s.Service.Name}
		for _, b := range s.Backends {
			r.Backends = append(r.Backends, cluster.Backend{Name: b.Deployment, Weight: b.Weight})
		}
		out = append(out, r)
	}
	return out, err
}

func (l localTarget) Events(ctx context.Context, ns string, watch bool, f func(local.Event) error) error {
	return l.c.Events(ctx, 0, watch, func(e local.Event) error {
		if ns == "" || e.Namespace == ns {
			return f(e)
		}
		return nil
	})
}

func (l localTarget) Command(ctx context.Context, ns, name string, c rollout.Command) error {
	return l.c.Command(ctx, ns, name, c)
}

func (l localTarget) SetImage(ctx context.Context, r local.SetImageRequest) error {
	return l.c.SetImage(ctx, r)
}

func (l localTarget) Logs(ctx context.Context, ns, deployment string, follow bool, w io.Writer) error {
	return l.c.Logs(ctx, ns, deployment, follow, w)
}

// clusterTarget is a Kubernetes cluster.
type clusterTarget struct{ *cluster.Client }

func (clusterTarget) Logs(_ context.Context, ns, deployment string, _ bool, _ io.Writer) error {
	return fmt.Errorf("logs: not served on a cluster: use `kubectl -n %s logs deploy/%s`", ns, deployment)
}
