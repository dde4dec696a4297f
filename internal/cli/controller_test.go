package cli

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/notify"
	"github.com/serinhq/serin/internal/version"
)

// parseControllerFlags parses args as `serin controller` does and returns
// its options.
func parseControllerFlags(t *testing.T, env map[string]string, args ...string) (*controllerFlags, kube.Options, error) {
	t.Helper()
	f := &controllerFlags{}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	f.register(fs)
	if err := fs.Parse(normalizeArgs(fs, args)); err != nil {
		return f, kube.Options{}, err
	}
	o, err := f.options(fs, func(k string) string { return env[k] })
	return f, o, err
}

func TestControllerFlagDefaults(t *testing.T) {
	f, o, err := parseControllerFlags(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := kube.Options{
		MeshProvider: "linkerd", MetricsServer: "http://prometheus:9090",
		MetricsAddr: ":8080", HealthAddr: ":8080", ControlLoopInterval: 10 * time.Second,
		KubeAPIQPS: 100, KubeAPIBurst: 250, Workers: 32,
		SelectorLabels: []string{"app", "name", "app.kubernetes.io/name"},
	}
	if o.MeshProvider != want.MeshProvider || o.MetricsServer != want.MetricsServer ||
		o.MetricsAddr != want.MetricsAddr || o.HealthAddr != want.HealthAddr ||
		o.ControlLoopInterval != want.ControlLoopInterval || o.KubeAPIQPS != want.KubeAPIQPS ||
		o.KubeAPIBurst != want.KubeAPIBurst || o.Workers != want.Workers ||
		!slices.Equal(o.SelectorLabels, want.SelectorLabels) || o.LeaderElection ||
		o.IncludeLabelPrefixes != nil || o.DisableConfigTracking || o.NoCrossNamespaceRefs || o.APIGroups != nil ||
		o.Alerts != (kube.GlobalAlerts{}) {
		t.Errorf("default options = %+v", o)
	}
	if f.logLevel != "debug" || f.zapEncoding != "json" || f.zapReplaceGlobals || f.version {
		t.Errorf("default logging flags = %q %q %v, version %v", f.logLevel, f.zapEncoding, f.zapReplaceGlobals, f.version)
	}
}

// TestControllerFlags sets every flag of Flagger's controller, and serin's
// own, in the forms Go's flag package accepts (-flag=value, -flag value)
// and in pflag's (--flag=value), and checks what it does.
func TestControllerFlags(t *testing.T) {
	type check func(f *controllerFlags, o kube.Options) bool
	for _, tc := range []struct {
		flag, value string
		check       check
		wantErr     string
	}{
		{flag: "kubeconfig", value: "/tmp/k", check: func(f *controllerFlags, _ kube.Options) bool { return f.kubeconfig == "/tmp/k" }},
		{flag: "master", value: "https://10.0.0.1:6443", check: func(f *controllerFlags, _ kube.Options) bool { return f.master == "https://10.0.0.1:6443" }},
		{flag: "kubeconfig-qps", value: "50", check: func(_ *controllerFlags, o kube.Options) bool { return o.KubeAPIQPS == 50 }},
		{flag: "kube-api-qps", value: "50", check: func(_ *controllerFlags, o kube.Options) bool { return o.KubeAPIQPS == 50 }},
		{flag: "kubeconfig-burst", value: "75", check: func(_ *controllerFlags, o kube.Options) bool { return o.KubeAPIBurst == 75 }},
		{flag: "kube-api-burst", value: "75", check: func(_ *controllerFlags, o kube.Options) bool { return o.KubeAPIBurst == 75 }},
		{flag: "metrics-server", value: "http://prometheus.linkerd-viz:9090", check: func(_ *controllerFlags, o kube.Options) bool {
			return o.MetricsServer == "http://prometheus.linkerd-viz:9090"
		}},
		{flag: "control-loop-interval", value: "30s", check: func(_ *controllerFlags, o kube.Options) bool { return o.ControlLoopInterval == 30*time.Second }},
		{flag: "control-loop-interval", value: "0s", wantErr: "--control-loop-interval=0s: must be positive"},
		{flag: "log-level", value: "info", check: func(f *controllerFlags, _ kube.Options) bool { return f.logLevel == "info" }},
		{flag: "log-level", value: "warning", check: func(f *controllerFlags, _ kube.Options) bool { return f.logLevel == "warning" }},
		{flag: "log-level", value: "trace", wantErr: "--log-level=trace: want debug, info, warn or error"},
		{flag: "port", value: "9000", check: func(_ *controllerFlags, o kube.Options) bool {
			return o.MetricsAddr == ":9000" && o.HealthAddr == ":9000"
		}},
		{flag: "port", value: "0", check: func(_ *controllerFlags, o kube.Options) bool { return o.MetricsAddr == "" && o.HealthAddr == "" }},
		{flag: "port", value: "http", wantErr: "--port=http: want a port number"},
		{flag: "metrics-addr", value: ":9090", check: func(_ *controllerFlags, o kube.Options) bool {
			return o.MetricsAddr == ":9090" && o.HealthAddr == ":8080"
		}},
		{flag: "health-addr", value: ":8081", check: func(_ *controllerFlags, o kube.Options) bool {
			return o.MetricsAddr == ":8080" && o.HealthAddr == ":8081"
		}},
		{flag: "dashboard-addr", value: ":9898", check: func(_ *controllerFlags, o kube.Options) bool { return o.DashboardAddr == ":9898" }},
		{flag: "dashboard-addr", value: "9898", wantErr: "--dashboard-addr=9898: want host:port, e.g. :9898"},
		{flag: "slack-url", value: "https://hooks.slack.com/x", check: func(_ *controllerFlags, o kube.Options) bool {
			return *o.Alerts.Chat == notify.Global{Type: "slack", Address: "https://hooks.slack.com/x", Username: "flagger"}
		}},
		{flag: "slack-token", value: "xoxb-1", check: func(_ *controllerFlags, o kube.Options) bool {
			return *o.Alerts.Chat == notify.Global{Type: "slack", Token: "xoxb-1", Username: "flagger"}
		}},
		{flag: "slack-proxy-url", value: "http://proxy:3128", check: func(f *controllerFlags, _ kube.Options) bool { return f.slackProxyURL == "http://proxy:3128" }},
		{flag: "slack-user", value: "serin", check: func(f *controllerFlags, _ kube.Options) bool { return f.slackUser == "serin" }},
		{flag: "slack-channel", value: "general", check: func(f *controllerFlags, _ kube.Options) bool { return f.slackChannel == "general" }},
		{flag: "slack-channel", value: "", check: func(_ *controllerFlags, o kube.Options) bool { return o.Alerts.Chat == nil }},
		{flag: "msteams-url", value: "https://teams/x", check: func(_ *controllerFlags, o kube.Options) bool {
			return *o.Alerts.Chat == notify.Global{Type: "msteams", Address: "https://teams/x"}
		}},
		{flag: "msteams-proxy-url", value: "http://proxy:3128", check: func(f *controllerFlags, _ kube.Options) bool { return f.msteamsProxyURL == "http://proxy:3128" }},
		{flag: "event-webhook", value: "http://events/", check: func(_ *controllerFlags, o kube.Options) bool { return o.Alerts.EventWebhook == "http://events/" }},
		{flag: "cluster-name", value: "prod-eu", check: func(_ *controllerFlags, o kube.Options) bool { return o.Alerts.ClusterName == "prod-eu" }},
		{flag: "include-label-prefix", value: "app.kubernetes.io,team", check: func(_ *controllerFlags, o kube.Options) bool {
			return slices.Equal(o.IncludeLabelPrefixes, []string{"app.kubernetes.io", "team"})
		}},
		{flag: "threadiness", value: "2", check: func(_ *controllerFlags, o kube.Options) bool { return o.Workers == 2 }},
		{flag: "threadiness", value: "0", wantErr: "--threadiness=0: must be at least 1"},
		{flag: "zap-replace-globals", value: "true", check: func(f *controllerFlags, _ kube.Options) bool { return f.zapReplaceGlobals }},
		{flag: "zap-encoding", value: "console", check: func(f *controllerFlags, _ kube.Options) bool { return f.zapEncoding == "console" }},
		{flag: "zap-encoding", value: "xml", wantErr: "--zap-encoding=xml: want json or console"},
		{flag: "namespace", value: "test", check: func(_ *controllerFlags, o kube.Options) bool { return o.Namespace == "test" }},
		{flag: "selector-labels", value: "app.kubernetes.io/name,app", check: func(_ *controllerFlags, o kube.Options) bool {
			return slices.Equal(o.SelectorLabels, []string{"app.kubernetes.io/name", "app"})
		}},
		{flag: "selector-labels", value: ",", wantErr: "--selector-labels: at least one label is required"},
		{flag: "enable-leader-election", value: "true", check: func(_ *controllerFlags, o kube.Options) bool { return o.LeaderElection }},
		{flag: "leader-elect", value: "true", check: func(_ *controllerFlags, o kube.Options) bool { return o.LeaderElection }},
		{flag: "leader-election-namespace", value: "flagger-system", check: func(_ *controllerFlags, o kube.Options) bool {
			return o.LeaderElectionNamespace == "flagger-system"
		}},
		{flag: "enable-config-tracking", value: "false", check: func(_ *controllerFlags, o kube.Options) bool { return o.DisableConfigTracking }},
		{flag: "enable-config-tracking", value: "true", check: func(_ *controllerFlags, o kube.Options) bool { return !o.DisableConfigTracking }},
		{flag: "version", value: "true", check: func(f *controllerFlags, _ kube.Options) bool { return f.version }},
		{flag: "no-cross-namespace-refs", value: "true", check: func(_ *controllerFlags, o kube.Options) bool { return o.NoCrossNamespaceRefs }},
		{flag: "api-groups", value: "flagger.app", check: func(_ *controllerFlags, o kube.Options) bool {
			return slices.Equal(o.APIGroups, []string{"flagger.app"})
		}},
		{flag: "api-groups", value: "serin.dev,flagger.app", check: func(_ *controllerFlags, o kube.Options) bool {
			return slices.Equal(o.APIGroups, []string{"serin.dev", "flagger.app"})
		}},
		{flag: "api-groups", value: "flagger.app,istio.io", wantErr: `--api-groups=flagger.app,istio.io: "istio.io" is not an API group serin reconciles; want serin.dev, flagger.app`},
		{flag: "ingress-annotations-prefix", value: "custom.ingress.kubernetes.io", wantErr: "--ingress-annotations-prefix=custom.ingress.kubernetes.io: serin drives"},
		{flag: "ingress-class", value: "nginx", wantErr: "--ingress-class=nginx: serin drives"},
		{flag: "ingress-class", value: "", check: func(f *controllerFlags, _ kube.Options) bool { return f.ingressClass == "" }},
		{flag: "kubeconfig-service-mesh", value: "/tmp/mesh", wantErr: "--kubeconfig-service-mesh=/tmp/mesh: serin writes"},
		{flag: "mesh-provider", value: "istio", wantErr: "--mesh-provider=istio: serin cannot drive it; it drives linkerd"},
		{flag: "mesh-provider", value: "appmesh", wantErr: "--mesh-provider=appmesh: serin cannot drive it; it drives linkerd"},
	} {
		forms := [][]string{{"-" + tc.flag + "=" + tc.value}, {"--" + tc.flag + "=" + tc.value}}
		if !strings.HasPrefix(tc.value, "-") && tc.value != "" && tc.value != "true" && tc.value != "false" {
			forms = append(forms, []string{"-" + tc.flag, tc.value})
		}
		for _, args := range forms {
			f, o, err := parseControllerFlags(t, nil, args...)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%q: error %v, want %q", args, err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("%q: %v", args, err)
			case !tc.check(f, o):
				t.Errorf("%q: unexpected flags %+v, options %+v", args, f, o)
			}
		}
	}
}

func TestControllerMeshProviders(t *testing.T) {
	for _, p := range []string{"linkerd", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes"} {
		if _, o, err := parseControllerFlags(t, nil, "-mesh-provider="+p); err != nil || o.MeshProvider != p {
			t.Errorf("-mesh-provider=%s: %v, %q", p, err, o.MeshProvider)
		}
	}
}

func TestControllerFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"SLACK_URL": "https://env/slack", "EVENT_WEBHOOK_URL": "http://env/events"}
	_, o, err := parseControllerFlags(t, env, "-slack-url=https://flag/slack", "-event-webhook=http://flag/events", "-slack-channel=general")
	if err != nil {
		t.Fatal(err)
	}
	if o.Alerts.Chat.Address != "https://env/slack" || o.Alerts.Chat.Channel != "general" || o.Alerts.EventWebhook != "http://env/events" {
		t.Errorf("alerts = %+v, %+v; want the environment's addresses", o.Alerts, o.Alerts.Chat)
	}
	// Microsoft Teams wins over Slack, as in Flagger.
	_, o, err = parseControllerFlags(t, map[string]string{"MSTEAMS_URL": "https://env/teams"}, "-slack-url=https://flag/slack")
	if err != nil || o.Alerts.Chat.Type != "msteams" || o.Alerts.Chat.Address != "https://env/teams" {
		t.Errorf("alerts = %+v, %v; want Microsoft Teams from $MSTEAMS_URL", o.Alerts.Chat, err)
	}
}

// TestControllerFlaggerArgs parses the args of Flagger's own Linkerd
// installation, and of its Helm chart, as they are written.
func TestControllerFlaggerArgs(t *testing.T) {
	_, o, err := parseControllerFlags(t, nil,
		"-log-level=info", "-include-label-prefix=app.kubernetes.io",
		"-mesh-provider=gatewayapi:v1beta1", "-metrics-server=http://prometheus.linkerd-viz:9090",
		"-slack-user=flagger", "-slack-channel=", "-slack-url=", "-enable-config-tracking=true",
		"-enable-leader-election=true", "-leader-election-namespace=linkerd", "-threadiness", "2")
	if err != nil {
		t.Fatal(err)
	}
	if o.MeshProvider != "gatewayapi:v1beta1" || o.MetricsServer != "http://prometheus.linkerd-viz:9090" ||
		!o.LeaderElection || o.LeaderElectionNamespace != "linkerd" || o.Workers != 2 || o.Alerts.Chat != nil {
		t.Errorf("options = %+v", o)
	}
	// Every problem at once.
	_, _, err = parseControllerFlags(t, nil, "-mesh-provider=istio", "-ingress-class=nginx")
	if err == nil || !strings.Contains(err.Error(), "istio") || !strings.Contains(err.Error(), "ingress-class") {
		t.Errorf("error %v, want both problems", err)
	}
}

func TestNormalizeArgs(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	(&controllerFlags{}).register(fs)
	fs.BoolP("help", "h", false, "help")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-mesh-provider=linkerd"}, []string{"--mesh-provider=linkerd"}},
		{[]string{"--mesh-provider=linkerd"}, []string{"--mesh-provider=linkerd"}},
		{[]string{"-namespace", "-odd-name"}, []string{"--namespace", "-odd-name"}},
		{[]string{"-enable-leader-election", "-port=8080"}, []string{"--enable-leader-election", "--port=8080"}},
		{[]string{"-h"}, []string{"-h"}},
		{[]string{"-unknown=1"}, []string{"-unknown=1"}},
		{[]string{"--", "-port=1"}, []string{"--", "-port=1"}},
	} {
		if got := normalizeArgs(fs, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestControllerCommand(t *testing.T) {
	run := func(args ...string) (string, error) {
		root := NewRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"controller"}, args...))
		err := root.Execute()
		return out.String(), err
	}
	if out, err := run("-version"); err != nil || !strings.Contains(out, version.String()) {
		t.Errorf("-version: %q, %v", out, err)
	}
	if out, err := run("-h"); err != nil || !strings.Contains(out, "-enable-leader-election") {
		t.Errorf("-h: %v\n%s", err, out)
	}
	// Refused before the controller looks for a cluster.
	if _, err := run("-mesh-provider=istio", "-kubeconfig=/nonexistent"); err == nil || !strings.Contains(err.Error(), "istio") {
		t.Errorf("-mesh-provider=istio: %v", err)
	}
	if _, err := run("-no-such-flag=1"); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := run("extra"); err == nil || !strings.Contains(err.Error(), "no arguments") {
		t.Errorf("argument: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := newLogger(&b, "warn", "console")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=shown k=v") {
		t.Errorf("console logger at warn wrote %q", got)
	}
	b.Reset()
	l, _ = newLogger(&b, "debug", "json")
	l.Debug("d")
	if !strings.Contains(b.String(), `"level":"DEBUG"`) || !l.Enabled(t.Context(), slog.LevelDebug) {
		t.Errorf("json logger at debug wrote %q", b.String())
	}
}
