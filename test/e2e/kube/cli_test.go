package kube

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cli"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
)

// serinCLI runs serin's command line in the test process and returns what
// it printed.
func serinCLI(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	root := cli.NewRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// flaggerCRD writes serin's Canary CRD under Flagger's group, as a cluster
// with Flagger installed has it, and returns its path.
func flaggerCRD(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/deploy/crds/serin.dev_canaries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flagger.app_canaries.yaml")
	s := strings.ReplaceAll(string(b), "canaries.serin.dev", "canaries.flagger.app")
	s = strings.ReplaceAll(s, "group: serin.dev", "group: flagger.app")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterCLI steers a release on the test cluster with serin's
// commands, as a user does from a terminal with a kubeconfig: get, pause,
// resume, promote, abort, retry, set image, events and describe; and
// checks that RBAC refusals read as one line.
func TestClusterCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	s, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cl8r := testenv.Start(t, testenv.Options{
		Scheme: s,
		CRDs:   []string{repoRoot + "/deploy/crds", repoRoot + "/deploy/crds/thirdparty", flaggerCRD(t)},
		RBAC:   true,
		Users:  []string{"viewer"},
	})
	e := setup(t, cl8r, "test", false)
	ctx := t.Context()
	kc := cl8r.Kubeconfig()
	run := func(args ...string) string {
		t.Helper()
		out, err := serinCLI(ctx, append(args, "--kubeconfig", kc, "-n", e.ns)...)
		if err != nil {
			t.Fatalf("serin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	c := release(t, e.ns, "")
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 5, 50
	interval := 2 * time.Second
	e.initialize(t, c)

	// A flagger.app Canary is listed too, and commands to it are refused:
	// the controller reconciles serin.dev only.
	legacy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "legacy", "namespace": e.ns},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
			"service":   map[string]any{"port": int64(8080)},
			"analysis":  map[string]any{"interval": "10s", "threshold": int64(5), "stepWeight": int64(10)},
		},
	}}
	if err := e.cl.Create(ctx, legacy); err != nil {
		t.Fatalf("create flagger.app canary: %v", err)
	}
	out := run("get", "canaries", "-o", "json")
	if !strings.Contains(out, `"apiVersion": "flagger.app/v1beta1"`) || !strings.Contains(out, `"apiVersion": "serin.dev/v1beta1"`) {
		t.Errorf("get canaries -o json lists not both groups:\n%s", out)
	}
	if _, err := serinCLI(ctx, "promote", "canary/legacy", "--kubeconfig", kc, "-n", e.ns); err == nil || !strings.Contains(err.Error(), "flagger.app Canary") {
		t.Errorf("promote of a flagger.app canary: %v, want a refusal naming flagger.app", err)
	}

	t.Run("RBAC refusals are one line", func(t *testing.T) {
		viewer := cl8r.UserKubeconfig(t, "viewer")
		grantRead(t, e.cl, e.ns, "viewer")
		out, err := serinCLI(ctx, "get", "canaries", "--kubeconfig", viewer, "-n", e.ns)
		if err != nil || !strings.Contains(out, "podinfo") {
			t.Fatalf("viewer's get canaries: %v\n%s", err, out)
		}
		_, err = serinCLI(ctx, "promote", "canary/podinfo", "--kubeconfig", viewer, "-n", e.ns)
		if want := "forbidden: you cannot patch canaries.serin.dev in namespace " + e.ns; err == nil || err.Error() != want {
			t.Errorf("viewer's promote: %v, want %q", err, want)
		}
		_, err = serinCLI(ctx, "get", "canaries", "--kubeconfig", viewer, "-A")
		if want := "forbidden: you cannot list canaries.serin.dev in all namespaces"; err == nil || err.Error() != want {
			t.Errorf("viewer's get canaries -A: %v, want %q", err, want)
		}
		_, err = serinCLI(ctx, "set", "image", "deployment/podinfo", "podinfod="+image171, "--kubeconfig", viewer, "-n", e.ns)
		if want := "forbidden: you cannot get deployments.apps in namespace " + e.ns; err == nil || err.Error() != want {
			t.Errorf("viewer's set image: %v, want %q", err, want)
		}
	})

	// A release started with serin set image, seen Progressing with its
	// weight by serin get canaries.
	weights := recordWeights(t, e.route)
	out = run("set", "image", "deployment/podinfo", "podinfod="+image171)
	if !strings.Contains(out, "deployment/podinfo image updated") {
		t.Errorf("set image printed %q", out)
	}
	waitWeight(t, e, 5)
	out = run("get", "canaries")
	row := canaryRow(t, out, "podinfo")
	if row[2] != "Progressing" || row[3] == "0" {
		t.Errorf("get canaries during the release: %v, want Progressing with a weight\n%s", row, out)
	}
	if !strings.Contains(run("get", "trafficsplits"), "podinfo-canary=") {
		t.Error("get trafficsplits shows no podinfo-canary backend")
	}

	// pause holds the weight for three intervals.
	t.Logf("%s", run("pause", "canary/podinfo"))
	waitCondition(t, e, rollout.PausedCondition)
	held := mustCanary(t, e).Status.CanaryWeight
	weights = recordWeights(t, e.route)
	hold := time.NewTimer(3 * interval)
	for done := false; !done; {
		select {
		case <-hold.C:
			done = true
		case <-time.After(100 * time.Millisecond):
			if w := mustCanary(t, e).Status.CanaryWeight; w != held {
				t.Fatalf("weight moved from %d to %d while paused", held, w)
			}
		}
	}
	if seen := weights.seen(); len(seen) != 1 || seen[0] != held {
		t.Errorf("route weights while paused: %v, want only %d", seen, held)
	}

	// resume continues.
	run("resume", "canary/podinfo")
	waitWeight(t, e, held+5)

	// promote ends it Succeeded within two intervals.
	start := time.Now()
	run("promote", "canary/podinfo")
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, time.Minute, v1beta1.PhaseFailed)
	if took := time.Since(start); took > 2*interval+time.Second {
		t.Errorf("promote took %s, want within two intervals (%s)", took.Round(time.Millisecond), 2*interval)
	} else {
		t.Logf("promoted %s after serin promote", took.Round(time.Millisecond))
	}

	// A faulty revision: abort ends it Failed, retry analyses it again.
	e.mesh.setCanary(behaviour{ErrorRate: 0.5, LatencyMS: 4})
	run("set", "image", "deployment/podinfo", "podinfod="+image170)
	waitWeight(t, e, 5)
	run("abort", "canary/podinfo")
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, time.Minute, v1beta1.PhaseSucceeded)
	if row := canaryRow(t, run("get", "canaries"), "podinfo"); row[2] != "Failed" {
		t.Errorf("get canaries after abort: %v, want Failed", row)
	}
	run("retry", "canary/podinfo")
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseProgressing, time.Minute)

	events := run("events")
	for _, want := range []string{"Paused", "by command"} {
		if !strings.Contains(events, want) {
			t.Errorf("serin events shows no %q:\n%s", want, events)
		}
	}
	if d := run("describe", "canary", "podinfo"); !strings.Contains(d, "Phase:") || !strings.Contains(d, "Events:") {
		t.Errorf("describe canary:\n%s", d)
	}
	if _, err := serinCLI(ctx, "logs", "deploy/podinfo", "--kubeconfig", kc, "-n", e.ns); err == nil || !strings.Contains(err.Error(), "kubectl -n "+e.ns+" logs deploy/podinfo") {
		t.Errorf("logs on a cluster: %v, want a pointer to kubectl logs", err)
	}

}

// grantRead lets user read Canaries, Deployments and Events in ns, and
// nothing else.
func grantRead(t *testing.T, cl client.Client, ns, user string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: objectMeta(ns, "canary-viewer"), Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"serin.dev", "flagger.app"}, Resources: []string{"canaries"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(ns, "canary-viewer"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := cl.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func mustCanary(t *testing.T, e *env) *v1beta1.Canary {
	t.Helper()
	c, err := getCanary(t.Context(), e.cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCondition waits until the Canary has condition typ set to True.
func waitCondition(t *testing.T, e *env, typ v1beta1.CanaryConditionType) {
	t.Helper()
	waitFor(t, time.Minute, "condition "+string(typ), func(ctx context.Context) (bool, error) {
		c, err := getCanary(ctx, e.cl, e.ns, "podinfo")
		if err != nil {
			return false, err
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == typ && cond.Status == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// canaryRow returns the columns of a Canary's row in get canaries' table.
func canaryRow(t *testing.T, table, name string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == name {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, table)
	return nil
}
