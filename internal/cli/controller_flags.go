package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/notify"
	"github.com/serinhq/serin/internal/traffic"
)

// controllerFlags are the flags of `serin controller`: every flag of
// Flagger's controller (1.36+) with its meaning and default where serin
// can honour it, and serin's own. docs/kubernetes.md has the table.
type controllerFlags struct {
	kubeconfig, master    string
	kubeQPS               float32
	kubeBurst             int
	metricsServer         string
	controlLoopInterval   time.Duration
	logLevel, zapEncoding string
	zapReplaceGlobals     bool
	port                  string
	metricsAddr           string
	healthAddr            string
	dashboardAddr         string

	slackURL, slackToken, slackProxyURL, slackUser, slackChannel string
	msteamsURL, msteamsProxyURL                                  string
	eventWebhook, clusterName                                    string

	includeLabelPrefix string
	selectorLabels     string
	configTracking     bool
	threadiness        int
	namespace          string
	meshProvider       string
	noCrossNamespace   bool
	apiGroups          string

	leaderElect             bool
	leaderElectionNamespace string

	ingressAnnotationsPrefix string
	ingressClass             string
	kubeconfigServiceMesh    string

	version bool
}

// register defines the flags on fs. Two names bound to one variable are
// aliases: Flagger's name and serin's earlier one.
func (f *controllerFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty uses the in-cluster configuration or $KUBECONFIG")
	fs.StringVar(&f.master, "master", "", "address of the Kubernetes API server; overrides the kubeconfig's")
	fs.Float32Var(&f.kubeQPS, "kubeconfig-qps", 100, "maximum queries per second to the Kubernetes API")
	fs.Float32Var(&f.kubeQPS, "kube-api-qps", 100, "alias of --kubeconfig-qps")
	fs.IntVar(&f.kubeBurst, "kubeconfig-burst", 250, "maximum burst of queries to the Kubernetes API")
	fs.IntVar(&f.kubeBurst, "kube-api-burst", 250, "alias of --kubeconfig-burst")
	fs.StringVar(&f.metricsServer, "metrics-server", "http://prometheus:9090", "Prometheus address of Canaries without spec.metricsServer")
	fs.DurationVar(&f.controlLoopInterval, "control-loop-interval", 10*time.Second, "how often flagger_canary_total is recomputed; Canaries are ticked as soon as they change")
	fs.StringVar(&f.logLevel, "log-level", "debug", "log level: debug, info, warn (or warning) or error")
	fs.StringVar(&f.zapEncoding, "zap-encoding", "json", "log format: json, or console for text")
	fs.BoolVar(&f.zapReplaceGlobals, "zap-replace-globals", false, "make the controller's logger the process-wide default (slog.SetDefault)")
	fs.StringVar(&f.port, "port", "8080", "port serving /metrics, /healthz and /readyz; 0 disables it")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "address of /metrics instead of --port; 0 disables it")
	fs.StringVar(&f.healthAddr, "health-addr", "", "address of /healthz and /readyz instead of --port; 0 disables them")
	fs.StringVar(&f.dashboardAddr, "dashboard-addr", "", "address of serin's dashboard (e.g. :9898) for Kubernetes users with a bearer token; empty disables it")

	fs.StringVar(&f.slackURL, "slack-url", "", "Slack incoming webhook for Canaries without alerts ($SLACK_URL wins)")
	fs.StringVar(&f.slackToken, "slack-token", "", "Slack API token: messages go to chat.postMessage (or --slack-url) with it")
	fs.StringVar(&f.slackProxyURL, "slack-proxy-url", "", "HTTP proxy for Slack")
	fs.StringVar(&f.slackUser, "slack-user", "flagger", "Slack user name")
	fs.StringVar(&f.slackChannel, "slack-channel", "", "Slack channel")
	fs.StringVar(&f.msteamsURL, "msteams-url", "", "Microsoft Teams incoming webhook for Canaries without alerts; wins over Slack ($MSTEAMS_URL wins)")
	fs.StringVar(&f.msteamsProxyURL, "msteams-proxy-url", "", "HTTP proxy for Microsoft Teams")
	fs.StringVar(&f.eventWebhook, "event-webhook", "", "webhook receiving every event of Canaries without event webhooks ($EVENT_WEBHOOK_URL wins)")
	fs.StringVar(&f.clusterName, "cluster-name", "", "cluster name added to every alert")

	fs.StringVar(&f.includeLabelPrefix, "include-label-prefix", "", "comma-separated prefixes of the target's labels and annotations copied to the primary; * copies all")
	fs.StringVar(&f.selectorLabels, "selector-labels", "app,name,app.kubernetes.io/name", "comma-separated pod labels, in order of preference, whose value selects a target's pods")
	fs.BoolVar(&f.configTracking, "enable-config-tracking", true, "track the ConfigMaps and Secrets a target references: a change is a new revision, and the primary gets copies")
	fs.IntVar(&f.threadiness, "threadiness", 32, "number of Canaries reconciled at once")
	fs.StringVar(&f.namespace, "namespace", "", "namespace to watch; empty watches all")
	fs.StringVar(&f.meshProvider, "mesh-provider", "linkerd", "router of Canaries without spec.provider: "+strings.Join(meshProviders(), ", "))
	fs.BoolVar(&f.noCrossNamespace, "no-cross-namespace-refs", false, "refuse Canaries that refer to MetricTemplates or AlertProviders in another namespace")
	fs.StringVar(&f.apiGroups, "api-groups", "", "comma-separated API groups whose Canaries, MetricTemplates and AlertProviders are reconciled: "+strings.Join(kube.APIGroups, ", ")+"; empty: each whose Canary CRD is installed")

	fs.BoolVar(&f.leaderElect, "enable-leader-election", false, "elect one active replica through a Lease")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "alias of --enable-leader-election")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; empty uses --namespace, else the controller's own namespace")

	fs.StringVar(&f.ingressAnnotationsPrefix, "ingress-annotations-prefix", "", "NGINX ingress annotations prefix: serin drives no ingress controller, so any value is an error")
	fs.StringVar(&f.ingressClass, "ingress-class", "", "ingress class: serin drives no ingress controller, so any value is an error")
	fs.StringVar(&f.kubeconfigServiceMesh, "kubeconfig-service-mesh", "", "kubeconfig of a separate service mesh cluster: not supported, so any value is an error")

	fs.BoolVar(&f.version, "version", false, "print the version and exit")
}

// ControllerOptions returns the controller's options for the args of
// `serin controller` (in -flag=value or --flag=value form), as the command
// computes them, with getenv read for the variables Flagger reads. Tests
// use it to run the controller in their process with a user's args.
func ControllerOptions(args []string, getenv func(string) string) (kube.Options, error) {
	f := &controllerFlags{}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(normalizeArgs(fs, args)); err != nil {
		return kube.Options{}, err
	}
	if rest := fs.Args(); len(rest) > 0 {
		return kube.Options{}, fmt.Errorf("serin controller takes no arguments, got %q", rest)
	}
	return f.options(fs, getenv)
}

// meshProviders are the --mesh-provider values serin can drive.
func meshProviders() []string {
	return slices.DeleteFunc(traffic.Providers(), func(p string) bool { return p == "" })
}

// options turns the flags into the controller's options. getenv reads the
// environment variables Flagger reads ($SLACK_URL, $MSTEAMS_URL,
// $EVENT_WEBHOOK_URL), which win over their flags as in Flagger.
func (f *controllerFlags) options(fs *pflag.FlagSet, getenv func(string) string) (kube.Options, error) {
	var errs []error
	unsupported := func(name, value, why string) {
		if value != "" {
			errs = append(errs, fmt.Errorf("--%s=%s: %s", name, value, why))
		}
	}
	unsupported("ingress-annotations-prefix", f.ingressAnnotationsPrefix, "serin drives Linkerd (SMI), Gateway API and plain Kubernetes, not an ingress controller")
	unsupported("ingress-class", f.ingressClass, "serin drives Linkerd (SMI), Gateway API and plain Kubernetes, not an ingress controller")
	unsupported("kubeconfig-service-mesh", f.kubeconfigServiceMesh, "serin writes a Canary's routes in the Canary's own cluster; a separate service mesh cluster is not supported")
	if !slices.Contains(meshProviders(), f.meshProvider) {
		errs = append(errs, fmt.Errorf("--mesh-provider=%s: serin cannot drive it; it drives %s", f.meshProvider, strings.Join(meshProviders(), ", ")))
	}
	if _, err := parseLogLevel(f.logLevel); err != nil {
		errs = append(errs, err)
	}
	if f.zapEncoding != "json" && f.zapEncoding != "console" {
		errs = append(errs, fmt.Errorf("--zap-encoding=%s: want json or console", f.zapEncoding))
	}
	if f.controlLoopInterval <= 0 {
		errs = append(errs, fmt.Errorf("--control-loop-interval=%s: must be positive", f.controlLoopInterval))
	}
	if f.threadiness <= 0 {
		errs = append(errs, fmt.Errorf("--threadiness=%d: must be at least 1", f.threadiness))
	}
	if f.dashboardAddr != "" && f.dashboardAddr != "0" {
		if _, _, err := net.SplitHostPort(f.dashboardAddr); err != nil {
			errs = append(errs, fmt.Errorf("--dashboard-addr=%s: want host:port, e.g. :9898", f.dashboardAddr))
		}
	}
	groups := splitList(f.apiGroups)
	for _, g := range groups {
		if !slices.Contains(kube.APIGroups, g) {
			errs = append(errs, fmt.Errorf("--api-groups=%s: %q is not an API group serin reconciles; want %s", f.apiGroups, g, strings.Join(kube.APIGroups, ", ")))
		}
	}
	selector := splitList(f.selectorLabels)
	if len(selector) == 0 {
		errs = append(errs, errors.New("--selector-labels: at least one label is required"))
	}
	port := ""
	if f.port != "0" {
		if n, err := strconv.Atoi(f.port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("--port=%s: want a port number", f.port))
		}
		port = ":" + f.port
	}
	o := kube.Options{
		APIGroups:               groups,
		Namespace:               f.namespace,
		MeshProvider:            f.meshProvider,
		MetricsServer:           f.metricsServer,
		LeaderElection:          f.leaderElect,
		LeaderElectionNamespace: f.leaderElectionNamespace,
		MetricsAddr:             port,
		HealthAddr:              port,
		DashboardAddr:           f.dashboardAddr,
		ControlLoopInterval:     f.controlLoopInterval,
		KubeAPIQPS:              f.kubeQPS,
		KubeAPIBurst:            f.kubeBurst,
		Workers:                 f.threadiness,
		NoCrossNamespaceRefs:    f.noCrossNamespace,
		SelectorLabels:          selector,
		IncludeLabelPrefixes:    splitList(f.includeLabelPrefix),
		DisableConfigTracking:   !f.configTracking,
		Alerts:                  f.alerts(getenv),
	}
	if fs.Changed("metrics-addr") {
		o.MetricsAddr = f.metricsAddr
	}
	if fs.Changed("health-addr") {
		o.HealthAddr = f.healthAddr
	}
	return o, errors.Join(errs...)
}

// alerts returns the global alert destinations: Microsoft Teams when it
// has an address, else Slack, as in Flagger.
func (f *controllerFlags) alerts(getenv func(string) string) kube.GlobalAlerts {
	fromEnv := func(name, flag string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return flag
	}
	a := kube.GlobalAlerts{
		EventWebhook: fromEnv("EVENT_WEBHOOK_URL", f.eventWebhook),
		ClusterName:  f.clusterName,
	}
	if u := fromEnv("MSTEAMS_URL", f.msteamsURL); u != "" {
		a.Chat = &notify.Global{Type: "msteams", Address: u, Proxy: f.msteamsProxyURL}
	} else if u := fromEnv("SLACK_URL", f.slackURL); u != "" || f.slackToken != "" {
		a.Chat = &notify.Global{Type: "slack", Address: u, Token: f.slackToken, Proxy: f.slackProxyURL,
			Channel: f.slackChannel, Username: f.slackUser}
	}
	return a
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseLogLevel reads Flagger's -log-level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level=%s: want debug, info, warn or error", s)
}

// newLogger returns the controller's logger: JSON, or text for Flagger's
// console encoding, at the given level.
func newLogger(w io.Writer, level, encoding string) (*slog.Logger, error) {
	l, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	if encoding == "console" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// normalizeArgs rewrites Go-style long flags (-mesh-provider=linkerd, as
// Flagger's Deployments pass them) to pflag's --mesh-provider=linkerd. An
// argument is rewritten only when it is a single-dash word of more than
// one letter that names a long flag of fs; the values of flags, the
// arguments after "--" and unknown words are left for the parser.
func normalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			continue
		}
		long := strings.HasPrefix(a, "--")
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fl := fs.Lookup(name)
		if !long && len(name) > 1 && fl != nil {
			out[i] = "-" + a
		}
		if fl == nil && !long && len(name) == 1 {
			fl = fs.ShorthandLookup(name)
		}
		// A flag that takes a value and has none after "=" takes the
		// next argument, which is not a flag even if it starts with "-".
		if fl != nil && !hasValue && fl.NoOptDefVal == "" {
			i++
		}
	}
	return out
}
