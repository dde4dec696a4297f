package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/internal/testenv"
)

// chartDir is serin's Helm chart.
const chartDir = "chart/serin"

// helm runs helm with args in a throwaway home and returns its standard
// output, or its error with its standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(testenv.Helm(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &helmError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + e.stderr }

// renderChart runs `helm template serin chart/serin -n linkerd` with the
// values given as --set arguments and returns the objects.
func renderChart(t *testing.T, set ...string) []map[string]any {
	t.Helper()
	args := []string{"template", "serin", chartDir, "--namespace", "linkerd"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	var objs []map[string]any
	for _, doc := range strings.Split(out, "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

// object returns the one rendered object of kind and name.
func object(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, o := range objs {
		if o["kind"] == kind && path(o, "metadata", "name") == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %s in the chart, found %d", kind, name, len(found))
	}
	return found[0]
}

func kinds(objs []map[string]any) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o["kind"].(string)+"/"+path(o, "metadata", "name").(string))
	}
	slices.Sort(ks)
	return ks
}

func containerArgs(t *testing.T, objs []map[string]any) []string {
	t.Helper()
	d := object(t, objs, "Deployment", "serin")
	var args []string
	for _, a := range path(d, "spec", "template", "spec", "containers", 0, "args").([]any) {
		args = append(args, a.(string))
	}
	return args
}

func TestChartLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chartDir); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}

// TestChartValues renders the chart with Flagger's value names and checks
// that each becomes the controller flag of the same meaning.
func TestChartValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want []string // args, in order among the others
		not  []string // arg prefixes that must be absent
	}{
		{
			name: "defaults",
			want: []string{"controller", "-port=8080", "-log-level=info", "-metrics-server=http://prometheus:9090", "-enable-config-tracking=true"},
			not:  []string{"-mesh-provider", "-enable-leader-election", "-slack-url", "-dashboard-addr", "-namespace"},
		},
		{
			name: "Flagger's Linkerd values",
			set: []string{
				"meshProvider=gatewayapi:v1beta1", "metricsServer=http://prometheus.linkerd-viz:9090",
				"includeLabelPrefix=app.kubernetes.io", "logLevel=debug", "selectorLabels=app\\,name",
				"namespace=test", "configTracking.enabled=false",
			},
			want: []string{
				"-log-level=debug", "-mesh-provider=gatewayapi:v1beta1", "-metrics-server=http://prometheus.linkerd-viz:9090",
				"-selector-labels=app,name", "-include-label-prefix=app.kubernetes.io",
				"-enable-config-tracking=false", "-namespace=test",
			},
		},
		{
			name: "alerts",
			set: []string{
				"slack.url=https://hooks.slack.test/x", "slack.channel=general", "slack.proxy=http://proxy:3128",
				"msteams.url=https://teams.test/x", "eventWebhook=http://events.test/", "clusterName=prod",
			},
			want: []string{
				"-slack-url=https://hooks.slack.test/x", "-slack-proxy-url=http://proxy:3128", "-slack-user=flagger",
				"-slack-channel=general", "-msteams-url=https://teams.test/x", "-event-webhook=http://events.test/",
				"-cluster-name=prod",
			},
		},
		{
			name: "leader election and API limits",
			set:  []string{"leaderElection.enabled=true", "leaderElection.replicaCount=2", "kubeconfigQPS=50", "kubeconfigBurst=80", "noCrossNamespaceRefs=true"},
			want: []string{"-enable-leader-election=true", "-leader-election-namespace=linkerd", "-kubeconfig-qps=50", "-kubeconfig-burst=80", "-no-cross-namespace-refs=true"},
		},
		{
			name: "dashboard",
			set:  []string{"dashboard.enabled=true", "dashboard.port=9898"},
			want: []string{"-dashboard-addr=:9898"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := containerArgs(t, renderChart(t, tc.set...))
			i := 0
			for _, a := range args {
				if i < len(tc.want) && a == tc.want[i] {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("args %q: want %q in this order (missing from %q on)", args, tc.want, tc.want[i])
			}
			for _, a := range args {
				for _, n := range tc.not {
					if strings.HasPrefix(a, n) {
						t.Errorf("args %q: want no %s", args, n)
					}
				}
			}
		})
	}
}

// TestChartObjects checks which objects each switch adds.
func TestChartObjects(t *testing.T) {
	base := []string{
		"ClusterRole/serin", "ClusterRoleBinding/serin",
		"CustomResourceDefinition/alertproviders.serin.dev", "CustomResourceDefinition/canaries.serin.dev",
		"CustomResourceDefinition/metrictemplates.serin.dev",
		"Deployment/serin", "Service/serin", "ServiceAccount/serin",
	}
	if got := kinds(renderChart(t)); !reflect.DeepEqual(got, base) {
		t.Errorf("default objects:\n got %q\nwant %q", got, base)
	}
	if got := kinds(renderChart(t, "crd.create=false", "rbac.create=false", "serviceAccount.create=false")); !reflect.DeepEqual(got, []string{"Deployment/serin", "Service/serin"}) {
		t.Errorf("without CRDs, RBAC and account: %q", got)
	}
	objs := renderChart(t, "leaderElection.enabled=true", "podMonitor.enabled=true", "serviceMonitor.enabled=true",
		"podDisruptionBudget.enabled=true", "linkerdAuthPolicy.create=true", "dashboard.enabled=true")
	object(t, objs, "Role", "serin-leader-election")
	object(t, objs, "RoleBinding", "serin-leader-election")
	object(t, objs, "PodMonitor", "serin")
	object(t, objs, "ServiceMonitor", "serin")
	object(t, objs, "PodDisruptionBudget", "serin")
	pol := object(t, objs, "AuthorizationPolicy", "prometheus-admin-serin")
	if ns := path(pol, "metadata", "namespace"); ns != "linkerd-viz" {
		t.Errorf("AuthorizationPolicy in namespace %v, want linkerd-viz", ns)
	}
	if sa := path(pol, "spec", "requiredAuthenticationRefs", 0, "name"); sa != "serin" {
		t.Errorf("AuthorizationPolicy admits %v, want the controller's service account serin", sa)
	}
	d := object(t, objs, "Deployment", "serin")
	if s := path(d, "spec", "strategy"); s != nil {
		t.Errorf("with leader election the Deployment's strategy is %v, want the default rolling update", s)
	}
	svc := object(t, objs, "Service", "serin")
	if p := path(svc, "spec", "ports", 1, "name"); p != "dashboard" {
		t.Errorf("Service ports %v: want a dashboard port", path(svc, "spec", "ports"))
	}
	// The CRDs are the ones make generate writes.
	for _, name := range []string{"canaries", "metrictemplates", "alertproviders"} {
		want, err := os.ReadFile(filepath.Join("crds", "serin.dev_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var w map[string]any
		if err := yaml.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if got := object(t, objs, "CustomResourceDefinition", name+".serin.dev"); !reflect.DeepEqual(got, w) {
			t.Errorf("the chart's CRD %s.serin.dev differs from deploy/crds: run make generate", name)
		}
	}
}

// TestChartRBACMatchesKustomize keeps the chart's ClusterRole equal to the
// kustomize base's, so that both installs grant the same, least, privilege.
func TestChartRBACMatchesKustomize(t *testing.T) {
	chart := object(t, renderChart(t), "ClusterRole", "serin")
	kust := find(t, render(t, "kustomize/base"), "ClusterRole", "serin")
	if !reflect.DeepEqual(chart["rules"], kust["rules"]) {
		t.Errorf("ClusterRole rules differ:\nchart     %v\nkustomize %v", chart["rules"], kust["rules"])
	}
}

// TestChartDashboardRBACMatchesKustomize keeps the dashboard's ClusterRole
// of the chart equal to the kustomize component's, bound to the
// controller's account, and absent without the dashboard.
func TestChartDashboardRBACMatchesKustomize(t *testing.T) {
	objs := renderChart(t, "dashboard.enabled=true")
	chart := object(t, objs, "ClusterRole", "serin-dashboard")
	kust := find(t, renderDashboard(t), "ClusterRole", "serin-dashboard")
	if !reflect.DeepEqual(chart["rules"], kust["rules"]) {
		t.Errorf("dashboard ClusterRole rules differ:\nchart     %v\nkustomize %v", chart["rules"], kust["rules"])
	}
	b := object(t, objs, "ClusterRoleBinding", "serin-dashboard")
	if r, sa := path(b, "roleRef", "name"), path(b, "subjects", 0, "name"); r != "serin-dashboard" || sa != "serin" {
		t.Errorf("dashboard ClusterRoleBinding binds %v to %v, want serin-dashboard to serin", r, sa)
	}
	for _, o := range renderChart(t) {
		if path(o, "metadata", "name") == "serin-dashboard" {
			t.Errorf("%v serin-dashboard rendered without dashboard.enabled", o["kind"])
		}
	}
}

// TestChartRefusesUnsupported: values of Flagger's chart that serin cannot
// honour stop the install with an error naming them.
func TestChartRefusesUnsupported(t *testing.T) {
	for set, want := range map[string]string{
		"prometheus.install=true":                   "prometheus.install=true: serin's chart installs no Prometheus",
		"ingressClass=nginx":                        "ingressClass=nginx: serin drives Linkerd (SMI), Gateway API and plain Kubernetes",
		"ingressAnnotationsPrefix=custom.ingress":   "ingressAnnotationsPrefix=custom.ingress:",
		"controlplane.kubeconfig.secretName=remote": "controlplane.kubeconfig.secretName: serin writes a Canary's routes in the Canary's own cluster",
	} {
		_, err := helm(t, "template", "serin", chartDir, "--set", set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("helm template --set %s: %v, want an error with %q", set, err, want)
		}
	}
}
