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
	"github.com/serinhq/serin/internal/version"
)

// newControllerCommand returns `serin controller`, the Kubernetes runtime.
// It takes every flag of Flagger's controller, in Go's -flag=value form as
// well as --flag=value (see controllerFlags).
func newControllerCommand() *cobra.Command {
	f := &controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Reconcile Canary objects on a Kubernetes cluster",
		Long: `controller runs serin on a Kubernetes cluster: it reconciles serin.dev/v1beta1
and Flagger's flagger.app/v1beta1 Canaries (each group whose CRD is installed,
or those --api-groups names), creates the primary Deployment and the Services
of each, moves traffic
through Linkerd (SMI TrafficSplit) or Gateway API HTTPRoutes, and judges each
step on metrics read from Prometheus.

It accepts the flags of Flagger's controller, written -flag=value as Flagger's
Deployments pass them or --flag=value; a Flagger flag serin cannot honour is
an error that names it.`,
		// Flagger's args are Go flags (-mesh-provider=linkerd), which
		// pflag would read as shorthands: the command parses its flags
		// itself once they are normalised.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if err := fs.Parse(normalizeArgs(fs, args)); err != nil {
				return fmt.Errorf("%w\nRun 'serin controller --help' for usage", err)
			}
			if help, _ := fs.GetBool("help"); help {
				return cmd.Help()
			}
			if rest := fs.Args(); len(rest) > 0 {
				return fmt.Errorf("serin controller takes no arguments, got %q", rest)
			}
			if f.version {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
				return err
			}
			return runController(cmd, f)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// runController starts the controller and runs it until SIGTERM or SIGINT.
func runController(cmd *cobra.Command, f *controllerFlags) error {
	o, err := f.options(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	o.Logger, err = newLogger(cmd.ErrOrStderr(), f.logLevel, f.zapEncoding)
	if err != nil {
		return err
	}
	if f.zapReplaceGlobals {
		slog.SetDefault(o.Logger)
	}
	cfg, err := restConfig(f.master, f.kubeconfig)
	if err != nil {
		return err
	}
	// controller-runtime's packages log through its process-wide logger;
	// the command owns the process, so it sets it.
	ctrl.SetLogger(logr.FromSlogHandler(o.Logger.Handler()))
	// The Go runtime and process collectors are already in
	// controller-runtime's registry, which /metrics serves with this one:
	// registering them here too would make every scrape fail on the
	// duplicate series.
	o.Registry = prometheus.NewRegistry()
	mgr, err := kube.NewManager(cfg, o)
	if err != nil {
		return err
	}
	o.Logger.Info("starting controller", "version", version.Version, "meshProvider", o.MeshProvider,
		"metricsServer", o.MetricsServer, "namespace", o.Namespace, "leaderElect", o.LeaderElection,
		"metricsAddr", o.MetricsAddr, "healthAddr", o.HealthAddr, "dashboardAddr", o.DashboardAddr)
	// SIGTERM (a Pod's deletion) and SIGINT stop the manager, which
	// finishes the ticks in flight and returns nil.
	ctx, cancel := signalContext(cmd.Context())
	defer cancel()
	return mgr.Start(ctx)
}

// restConfig loads the cluster configuration: the kubeconfig and API
// server address given (Flagger's -kubeconfig and -master), else
// controller-runtime's lookup ($KUBECONFIG, in-cluster, ~/.kube/config).
func restConfig(master, kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && master == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("load cluster configuration: %w", err)
		}
		return cfg, nil
	}
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags(master, kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %q --master %q: %w", kubeconfig, master, err)
	}
	return cfg, nil
}
