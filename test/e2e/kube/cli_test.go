package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cli"
	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/metrics/prometheus"
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

// TestClusterCLI steers a release on the test cluster with serin's
// commands, as a user does from a terminal with a kubeconfig: get, pause,
// resume, promote, abort, retry, set image, events, describe and stat
// deploy; and checks that RBAC refusals read as one line.
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
		CRDs:   []string{repoRoot + "/deploy/crds", repoRoot + "/deploy/crds/thirdparty", repoRoot + "/deploy/crds/flagger"},
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

	// A flagger.app Canary is listed too, and commands reach it: the
	// controller reconciles both groups. Its target does not exist, so the
	// controller ignores the command, and removes it.
	legacy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "legacy", "namespace": e.ns},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"},
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
	if out, err := serinCLI(ctx, "promote", "canary/legacy", "--kubeconfig", kc, "-n", e.ns); err != nil {
		t.Errorf("promote of a flagger.app canary: %v\n%s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, "the controller to consume the command of the flagger.app canary", func(ctx context.Context) (bool, error) {
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(legacy), legacy); err != nil {
			return false, err
		}
		_, pending := legacy.GetAnnotations()[kube.CommandAnnotation]
		return !pending, nil
	})
	waitEvent(t, e.cl, e.ns, "legacy", "Command promote ignored: target legacy.")

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
	_, failed0 := e.mesh.counts("podinfo")
	run("retry", "canary/podinfo")
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseProgressing, time.Minute)
	// The canary serves again and fails some requests: stat's SUCCESS
	// has something to show.
	testenv.Eventually(t, time.Minute, "the retried canary failing requests", func(context.Context) (bool, error) {
		_, failed := e.mesh.counts("podinfo")
		return failed >= failed0+2, nil
	})

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

	t.Run("stat deploy matches Linkerd's PromQL", func(t *testing.T) {
		checkStat(t, e, run)
	})
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
	testenv.Eventually(t, time.Minute, "condition "+string(typ), func(ctx context.Context) (bool, error) {
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

// checkStat checks each column of serin stat deploy's rows for podinfo and
// podinfo-primary, at a time already scraped, against Linkerd's PromQL run
// by the test: the table as printed, and the numbers behind it.
func checkStat(t *testing.T, e *env, run func(args ...string) string) {
	t.Helper()
	ctx := t.Context()
	q, err := prometheus.NewClient(prometheus.Config{Address: e.prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	// A time already scraped (every second) at which PromQL sees the
	// retried canary's failures.
	var at time.Time
	testenv.Eventually(t, time.Minute, "Prometheus to see the canary's failures", func(ctx context.Context) (bool, error) {
		at = time.Now().Add(-1500 * time.Millisecond)
		vec, err := q.Vector(ctx, successQuery(e.ns, "podinfo"), at)
		return err == nil && len(vec) == 1 && vec[0].Value < 100, err
	})
	table := run("stat", "deploy", "--prometheus", e.prom.URL, "--time", at.Format(time.RFC3339Nano))
	t.Logf("serin stat deploy at %s:\n%s", at.Format(time.RFC3339Nano), table)
	printed := map[string][]string{}
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) == 9 {
			printed[f[1]] = f
		}
	}
	c, err := cluster.NewForConfig(e.cluster.RESTConfig(), e.ns)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.Stat(ctx, q, cluster.StatDeployment, e.ns, time.Minute, at)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range rows {
		if r.Name != "podinfo" && r.Name != "podinfo-primary" {
			continue
		}
		checked++
		row, ok := printed[r.Name]
		if !ok {
			t.Fatalf("no row for %s in the table", r.Name)
		}
		sel := fmt.Sprintf(`direction="inbound", namespace=%q, deployment=%q`, e.ns, r.Name)
		for _, col := range []struct {
			name, format string
			column       int
			got          *float64
			query        string
		}{
			{"SUCCESS", "%.2f%%", 3, &r.Success, successQuery(e.ns, r.Name)},
			{"RPS", "%.1frps", 4, &r.RPS, fmt.Sprintf(`sum(increase(response_total{%s}[1m])) / 60`, sel)},
			{"LATENCY_P50", "%.0fms", 5, r.P50, fmt.Sprintf(`histogram_quantile(0.5, sum(irate(response_latency_ms_bucket{%s}[1m])) by (le))`, sel)},
			{"LATENCY_P95", "%.0fms", 6, r.P95, fmt.Sprintf(`histogram_quantile(0.95, sum(irate(response_latency_ms_bucket{%s}[1m])) by (le))`, sel)},
			{"LATENCY_P99", "%.0fms", 7, r.P99, fmt.Sprintf(`histogram_quantile(0.99, sum(irate(response_latency_ms_bucket{%s}[1m])) by (le))`, sel)},
		} {
			want := promValue(t, q, col.query, at)
			if math.IsNaN(want) {
				// No response in irate's last two samples: no latency.
				if col.got != nil || row[col.column] != "-" {
					t.Errorf("%s %s = %v, printed %s; PromQL gives NaN", r.Name, col.name, col.got, row[col.column])
				}
				continue
			}
			if col.got == nil || math.Abs(*col.got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%s %s = %v, PromQL %s gives %v", r.Name, col.name, col.got, col.query, want)
			}
			if p := fmt.Sprintf(col.format, want); row[col.column] != p {
				t.Errorf("%s %s printed %s, PromQL gives %s", r.Name, col.name, row[col.column], p)
			}
		}
		if !regexp.MustCompile(`^\d+/\d+$`).MatchString(r.Meshed) || row[2] != r.Meshed {
			t.Errorf("%s MESHED = %q, printed %q", r.Name, r.Meshed, row[2])
		}
	}
	if checked != 2 {
		t.Errorf("stat rows %+v lack podinfo or podinfo-primary", rows)
	}

	// stat ts: a row per leaf of the TrafficSplit, with the numbers of the
	// Deployment its Service selects.
	ts := run("stat", "ts", "--prometheus", e.prom.URL, "--time", at.Format(time.RFC3339Nano))
	t.Logf("serin stat ts:\n%s", ts)
	leaves := map[string]string{"podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"}
	for _, line := range strings.Split(ts, "\n") {
		f := strings.Fields(line)
		if len(f) != 9 || f[1] != "podinfo" {
			continue
		}
		if d, ok := leaves[f[2]]; ok {
			if got, want := f[4:], printed[d][3:8]; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("stat ts leaf %s: %v, stat deploy %s: %v", f[2], got, d, want)
			}
			delete(leaves, f[2])
		}
	}
	if len(leaves) > 0 {
		t.Errorf("stat ts lacks the leaves %v", leaves)
	}
	// stat po: a row per pod (the exporter has no pod label: no traffic).
	if po := run("stat", "po", "--prometheus", e.prom.URL); !strings.Contains(po, "podinfo-primary-") {
		t.Errorf("stat po lists no podinfo-primary pod:\n%s", po)
	}
	b, _ := json.Marshal(rows)
	t.Logf("stat rows: %s", b)
}

func successQuery(ns, deployment string) string {
	sel := fmt.Sprintf(`direction="inbound", namespace=%q, deployment=%q`, ns, deployment)
	return fmt.Sprintf(`100 * sum(increase(response_total{%s, classification="success"}[1m])) / sum(increase(response_total{%s}[1m]))`, sel, sel)
}

func promValue(t *testing.T, q *prometheus.Client, query string, at time.Time) float64 {
	t.Helper()
	vec, err := q.Vector(t.Context(), query, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(vec) != 1 {
		t.Fatalf("%s: %d series", query, len(vec))
	}
	return float64(vec[0].Value)
}
