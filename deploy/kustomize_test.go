package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render runs `kubectl kustomize dir`.
func render(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}

// find returns the one object of kind and name.
func find(t *testing.T, m resmap.ResMap, kind, name string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, r := range m.Resources() {
		if r.GetKind() == kind && r.GetName() == name {
			obj, err := r.Map()
			if err != nil {
				t.Fatal(err)
			}
			found = append(found, obj)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %s, found %d", kind, name, len(found))
	}
	return found[0]
}

func path(obj map[string]any, keys ...any) any {
	var cur any = obj
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := cur.(map[string]any)
			cur = m[k]
		case int:
			s, _ := cur.([]any)
			if k >= len(s) {
				return nil
			}
			cur = s[k]
		}
	}
	return cur
}

func TestOverlays(t *testing.T) {
	for _, tc := range []struct {
		dir       string
		namespace string
		args      []string
	}{
		{"kustomize/linkerd", "linkerd", []string{"--mesh-provider=linkerd", "--metrics-server=http://prometheus.linkerd-viz:9090"}},
		{"kustomize/gatewayapi", "linkerd", []string{"--mesh-provider=gatewayapi:v1", "--metrics-server=http://prometheus.linkerd-viz:9090"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m := render(t, tc.dir)

			for _, crd := range []string{"canaries.serin.dev", "metrictemplates.serin.dev", "alertproviders.serin.dev"} {
				obj := find(t, m, "CustomResourceDefinition", crd)
				if ns := path(obj, "metadata", "namespace"); ns != nil {
					t.Errorf("CRD %s has namespace %v", crd, ns)
				}
			}

			d := find(t, m, "Deployment", "serin")
			if ns := path(d, "metadata", "namespace"); ns != tc.namespace {
				t.Errorf("deployment namespace = %v, want %s", ns, tc.namespace)
			}
			var args []string
			for _, a := range path(d, "spec", "template", "spec", "containers", 0, "args").([]any) {
				args = append(args, a.(string))
			}
			if len(args) == 0 || args[0] != "controller" {
				t.Errorf("args = %v, want the controller command first", args)
			}
			for _, want := range append([]string{"--enable-leader-election=true", "--port=8080"}, tc.args...) {
				if !slices.Contains(args, want) {
					t.Errorf("args = %v, missing %s", args, want)
				}
			}
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				if port := path(d, "spec", "template", "spec", "containers", 0, probe, "httpGet", "port"); port != "http" {
					t.Errorf("%s port = %v, want http (8080, the --port)", probe, port)
				}
			}
			if sa := path(d, "spec", "template", "spec", "serviceAccountName"); sa != "serin" {
				t.Errorf("serviceAccountName = %v", sa)
			}
			if img, _ := path(d, "spec", "template", "spec", "containers", 0, "image").(string); !strings.HasPrefix(img, "ghcr.io/serinhq/serin:") {
				t.Errorf("image = %q", img)
			}

			if ns := path(find(t, m, "ServiceAccount", "serin"), "metadata", "namespace"); ns != tc.namespace {
				t.Errorf("service account namespace = %v", ns)
			}
			for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
				name := "serin"
				if kind == "RoleBinding" {
					name = "serin-leader-election"
				}
				if ns := path(find(t, m, kind, name), "subjects", 0, "namespace"); ns != tc.namespace {
					t.Errorf("%s subject namespace = %v, want %s", kind, ns, tc.namespace)
				}
			}
			if ns := path(find(t, m, "Role", "serin-leader-election"), "metadata", "namespace"); ns != tc.namespace {
				t.Errorf("leader election role namespace = %v", ns)
			}
		})
	}
}

// TestRBACLeastPrivilege checks the ClusterRole grants what the controller
// needs and never delete or wildcards, but for two exceptions: delete on
// Keptn's Analyses (the controller removes the ones it creates) and read
// on every resource of the external metrics API (each metric is a
// resource there).
func TestRBACLeastPrivilege(t *testing.T) {
	role := find(t, render(t, "kustomize/linkerd"), "ClusterRole", "serin")
	granted := map[string][]string{}
	for _, r := range path(role, "rules").([]any) {
		rule := r.(map[string]any)
		for _, g := range rule["apiGroups"].([]any) {
			for _, res := range rule["resources"].([]any) {
				key := g.(string) + "/" + res.(string)
				for _, v := range rule["verbs"].([]any) {
					allowed := (key == "metrics.keptn.sh/analyses" && v == "delete") ||
						(key == "external.metrics.k8s.io/*" && (v == "get" || v == "list"))
					if !allowed && (v == "*" || v == "delete" || v == "deletecollection" || res == "*" || g == "*") {
						t.Errorf("rule grants %s on %s", v, key)
					}
					granted[key] = append(granted[key], v.(string))
				}
			}
		}
	}
	for key, verbs := range map[string][]string{
		"serin.dev/canaries":                   {"get", "list", "watch", "update", "patch"},
		"serin.dev/canaries/status":            {"update"},
		"serin.dev/canaries/finalizers":        {"update"},
		"serin.dev/metrictemplates":            {"get", "list", "watch"},
		"serin.dev/alertproviders":             {"get", "list", "watch"},
		"flagger.app/canaries":                 {"get", "list", "watch", "update", "patch"},
		"flagger.app/canaries/status":          {"update"},
		"flagger.app/canaries/finalizers":      {"update"},
		"flagger.app/metrictemplates":          {"get", "list", "watch"},
		"flagger.app/alertproviders":           {"get", "list", "watch"},
		"apps/deployments":                     {"get", "list", "watch", "create", "update", "patch"},
		"/services":                            {"get", "list", "watch", "create", "update", "patch"},
		"/configmaps":                          {"get", "list", "watch", "create", "update"},
		"/secrets":                             {"get", "list", "watch", "create", "update"},
		"autoscaling/horizontalpodautoscalers": {"get", "list", "watch", "create", "update"},
		"split.smi-spec.io/trafficsplits":      {"get", "list", "watch", "create", "update"},
		"gateway.networking.k8s.io/httproutes": {"get", "list", "watch", "create", "update"},
		"/events":                              {"create", "patch"},
		"metrics.keptn.sh/keptnmetrics":        {"get"},
		"metrics.keptn.sh/analyses":            {"get", "create", "delete"},
		"external.metrics.k8s.io/*":            {"get"},
	} {
		for _, v := range verbs {
			if !slices.Contains(granted[key], v) {
				t.Errorf("ClusterRole does not grant %s on %s", v, key)
			}
		}
	}
}

// TestLoadtester checks the loadtester is flagger-loadtester in namespace
// test, as Flagger's: a Service on port 80 to a pod running `serin
// loadtester` on every interface at 8080, the Service's selector matching
// the pod.
func TestLoadtester(t *testing.T) {
	m := render(t, "kustomize/loadtester")
	if n := len(m.Resources()); n != 2 {
		t.Errorf("%d objects, want the Deployment and the Service", n)
	}
	d := find(t, m, "Deployment", "flagger-loadtester")
	svc := find(t, m, "Service", "flagger-loadtester")
	for _, obj := range []map[string]any{d, svc} {
		if ns := path(obj, "metadata", "namespace"); ns != "test" {
			t.Errorf("namespace = %v, want test", ns)
		}
	}
	c := path(d, "spec", "template", "spec", "containers", 0).(map[string]any)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	if len(args) == 0 || args[0] != "loadtester" || !slices.Contains(args, "--addr=:8080") {
		t.Errorf("args = %v, want loadtester listening on :8080", args)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--allow-exec") {
			t.Errorf("args = %v: commands must not be allowed by default", args)
		}
	}
	if img, _ := c["image"].(string); !strings.HasPrefix(img, "ghcr.io/serinhq/serin:") {
		t.Errorf("image = %q", img)
	}
	if p := path(c, "ports", 0, "containerPort"); p != 8080 {
		t.Errorf("containerPort = %v, want 8080", p)
	}
	if p := path(c, "readinessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("readiness probe path = %v", p)
	}
	if p := path(svc, "spec", "ports", 0, "port"); p != 80 {
		t.Errorf("service port = %v, want 80 (http://flagger-loadtester.test/)", p)
	}
	if p := path(svc, "spec", "ports", 0, "targetPort"); p != "http" {
		t.Errorf("service targetPort = %v, want the container's http port", p)
	}
	labels := path(d, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range path(svc, "spec", "selector").(map[string]any) {
		if labels[k] != v {
			t.Errorf("service selector %s=%v does not match the pod labels %v", k, v, labels)
		}
	}
}

// TestDashboardComponent checks the dashboard component added to the
// linkerd overlay: the controller serves the dashboard on a port named
// dashboard, a Service reaches it, and the controller gains only what the
// dashboard needs: creating TokenReviews and SubjectAccessReviews, and
// watching pods, events and Flagger's Canaries.
func TestDashboardComponent(t *testing.T) {
	m := renderDashboard(t)

	d := find(t, m, "Deployment", "serin")
	c := path(d, "spec", "template", "spec", "containers", 0).(map[string]any)
	if !slices.Contains(c["args"].([]any), any("--dashboard-addr=:9898")) {
		t.Errorf("args = %v, missing --dashboard-addr=:9898", c["args"])
	}
	ports := map[any]any{}
	for _, p := range c["ports"].([]any) {
		ports[p.(map[string]any)["name"]] = p.(map[string]any)["containerPort"]
	}
	if ports["dashboard"] != 9898 || ports["http"] != 8080 {
		t.Errorf("container ports = %v, want http 8080 and dashboard 9898", ports)
	}

	svc := find(t, m, "Service", "serin-dashboard")
	if ns := path(svc, "metadata", "namespace"); ns != "linkerd" {
		t.Errorf("service namespace = %v", ns)
	}
	if tp := path(svc, "spec", "ports", 0, "targetPort"); tp != "dashboard" {
		t.Errorf("service targetPort = %v, want dashboard", tp)
	}
	if sel := path(svc, "spec", "selector", "app.kubernetes.io/name"); sel != path(d, "spec", "template", "metadata", "labels", "app.kubernetes.io/name") {
		t.Errorf("service selector %v does not select the controller's pods", sel)
	}

	if ns := path(find(t, m, "ClusterRoleBinding", "serin-dashboard"), "subjects", 0, "namespace"); ns != "linkerd" {
		t.Errorf("dashboard ClusterRoleBinding subject namespace = %v, want linkerd", ns)
	}
	granted := map[string][]string{}
	for _, r := range path(find(t, m, "ClusterRole", "serin-dashboard"), "rules").([]any) {
		rule := r.(map[string]any)
		for _, g := range rule["apiGroups"].([]any) {
			for _, res := range rule["resources"].([]any) {
				for _, v := range rule["verbs"].([]any) {
					key := g.(string) + "/" + res.(string)
					granted[key] = append(granted[key], v.(string))
				}
			}
		}
	}
	want := map[string][]string{
		"authentication.k8s.io/tokenreviews":        {"create"},
		"authorization.k8s.io/subjectaccessreviews": {"create"},
		"/pods":                {"list", "watch"},
		"/events":              {"list", "watch"},
		"flagger.app/canaries": {"list", "watch"},
	}
	for key, verbs := range granted {
		slices.Sort(verbs)
		w := slices.Clone(want[key])
		slices.Sort(w)
		if !slices.Equal(verbs, w) {
			t.Errorf("dashboard ClusterRole grants %v on %s, want %v", verbs, key, w)
		}
	}
	for key := range want {
		if _, ok := granted[key]; !ok {
			t.Errorf("dashboard ClusterRole grants nothing on %s", key)
		}
	}
	// The base stays as it was: the dashboard's rights come with it only.
	base := find(t, render(t, "kustomize/linkerd"), "Deployment", "serin")
	for _, a := range path(base, "spec", "template", "spec", "containers", 0, "args").([]any) {
		if strings.HasPrefix(a.(string), "--dashboard-addr") {
			t.Errorf("the linkerd overlay serves the dashboard without the component: %v", a)
		}
	}
}

// renderDashboard renders the linkerd overlay with the dashboard
// component, as docs/kubernetes.md shows.
func renderDashboard(t *testing.T) resmap.ResMap {
	t.Helper()
	abs, err := filepath.Abs("kustomize")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel := func(name string) string { // kustomize takes relative roots only
		p, err := filepath.Rel(dir, filepath.Join(abs, name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	overlay := fmt.Sprintf("namespace: linkerd\nresources: [%s]\ncomponents: [%s]\n", rel("linkerd"), rel("dashboard"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o600); err != nil {
		t.Fatal(err)
	}
	return render(t, dir)
}

// TestFlaggerCRDs checks crds/flagger installs Flagger's kinds with
// serin's schemas: the serin.dev CRDs under the flagger.app group, without
// serin's short name (which both groups' CRDs would claim).
func TestFlaggerCRDs(t *testing.T) {
	serin, flagger := render(t, "crds"), render(t, "crds/flagger")
	if n := len(flagger.Resources()); n != 3 {
		t.Errorf("crds/flagger has %d objects, want 3 CRDs", n)
	}
	for _, plural := range []string{"canaries", "metrictemplates", "alertproviders"} {
		s := find(t, serin, "CustomResourceDefinition", plural+".serin.dev")
		f := find(t, flagger, "CustomResourceDefinition", plural+".flagger.app")
		if g := path(f, "spec", "group"); g != "flagger.app" {
			t.Errorf("%s.flagger.app: group %v", plural, g)
		}
		if sn := path(f, "spec", "names", "shortNames"); sn != nil {
			t.Errorf("%s.flagger.app: short names %v, want none", plural, sn)
		}
		if !reflect.DeepEqual(path(f, "spec", "versions"), path(s, "spec", "versions")) {
			t.Errorf("%s.flagger.app: versions (schema, columns, subresources) differ from %s.serin.dev's", plural, plural)
		}
	}
}
