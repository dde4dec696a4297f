package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/serinhq/serin/internal/kube"
)

// newControllerCommand returns `serin controller`, the Kubernetes runtime.
// Its flags keep Flagger's names where they mean the same.
func newControllerCommand() *cobra.Command {
	var (
		kubeconfig string
		o          kube.Options
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Reconcile Canary objects on a Kubernetes cluster",
		Long: `controller runs serin on a Kubernetes cluster: it reconciles serin.dev/v1beta1
Canaries, creates the primary Deployment and the Services of each, moves traffic
through Linkerd (SMI TrafficSplit) or Gateway API HTTPRoutes, and judges each
step on metrics read from Prometheus.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			o.Logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			// controller-runtime's packages log through its process-wide
			// logger; the command owns the process, so it sets it.
			ctrl.SetLogger(logr.FromSlogHandler(o.Logger.Handler()))
			// The Go runtime and process collectors are already in
			// controller-runtime's registry, which /metrics serves with this
			// one: registering them here too would make every scrape fail
			// on the duplicate series.
			o.Registry = prometheus.NewRegistry()
			mgr, err := kube.NewManager(cfg, o)
			if err != nil {
				return err
			}
			o.Logger.Info("starting controller", "meshProvider", o.MeshProvider, "metricsServer", o.MetricsServer,
				"namespace", o.Namespace, "leaderElect", o.LeaderElection)
			// SIGTERM (a Pod's deletion) and SIGINT stop the manager, which
			// finishes the ticks in flight and returns nil.
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			return mgr.Start(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty uses the in-cluster configuration or $KUBECONFIG")
	f.StringVar(&o.MeshProvider, "mesh-provider", "linkerd", "router of Canaries without spec.provider: linkerd, smi:v1alpha1, smi:v1alpha2 or gatewayapi:v1")
	f.StringVar(&o.MetricsServer, "metrics-server", "http://prometheus:9090", "Prometheus address of Canaries without spec.metricsServer")
	f.StringVar(&o.Namespace, "namespace", "", "namespace to watch; empty watches all")
	f.BoolVar(&o.LeaderElection, "leader-elect", true, "elect a leader among replicas through a Lease")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; empty uses the controller's namespace")
	f.StringVar(&o.MetricsAddr, "metrics-addr", ":8080", "address of the /metrics endpoint; 0 disables it")
	f.StringVar(&o.HealthAddr, "health-addr", ":8081", "address of the /healthz and /readyz endpoints; 0 disables them")
	f.IntVar(&o.Workers, "threadiness", 32, "number of Canaries reconciled at once")
	f.Float32Var(&o.KubeAPIQPS, "kube-api-qps", 100, "maximum queries per second to the Kubernetes API")
	f.IntVar(&o.KubeAPIBurst, "kube-api-burst", 250, "maximum burst of queries to the Kubernetes API")
	return cmd
}

// restConfig loads the cluster configuration: the kubeconfig given, else
// controller-runtime's lookup ($KUBECONFIG, in-cluster, ~/.kube/config).
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("load cluster configuration: %w", err)
		}
		return cfg, nil
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
