package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cli"
	"github.com/serinhq/serin/internal/testenv"
)

// flaggerCRDs are the flagger.app CRDs in the shape Flagger's chart
// installs them, with Flagger's status schema (testdata/flagger-crds).
const flaggerCRDs = "testdata/flagger-crds"

// startFlaggerCluster starts a cluster as Flagger leaves it: Flagger's CRDs
// and the routers', and none of serin's.
func startFlaggerCluster(t *testing.T) *testenv.Cluster {
	t.Helper()
	return startClusterWith(t, []string{repoRoot + "/deploy/crds/thirdparty", flaggerCRDs})
}

// TestFlaggerCanaryWithFlaggerArgs swaps Flagger for serin on a cluster
// that has Flagger's CRDs only: the walkthrough's Canary, applied as
// flagger.app/v1beta1 (at the tests' 2s interval), is reconciled by a
// controller given the args of Flagger's own Linkerd Deployment. The
// release is promoted, with flagger_canary_status and flagger_canary_weight
// following it in a real Prometheus; a faulty one is rolled back and
// Flagger's alert flagger_canary_status > 1 fires. The status is written
// in Flagger's shape: serin's own fields are pruned by the server, and
// the printer columns of Flagger's CRD read the phase and weight.
func TestFlaggerCanaryWithFlaggerArgs(t *testing.T) {
	cluster := startFlaggerCluster(t)
	e := &env{cluster: cluster, cl: cluster.Client(), ns: "flaggergroup"}
	applyExample(t, e.cl, e.ns)
	e.route = httpRouteWeights(e.cl, e.ns, "podinfo")
	e.mesh = startMesh(t, e.ns, "podinfo", e.route)
	metricsAddr := freeAddr(t)
	_, port, err := net.SplitHostPort(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr, metricsAddr}, time.Second)

	args := slices.Clone(flaggerLinkerdArgs)
	for i, a := range args {
		if strings.HasPrefix(a, "-metrics-server=") {
			args[i] = "-metrics-server=" + e.prom.URL // the test's Prometheus
		}
	}
	args = append(args, "-port="+port)
	e.opts, err = cli.ControllerOptions(args, func(string) string { return "" })
	if err != nil {
		t.Fatalf("serin controller %s: %v", strings.Join(args, " "), err)
	}
	e.opts.ControlLoopInterval = time.Second // flagger_canary_total at once
	e.ctrl = startController(t, cluster.RESTConfig(), e.opts)

	c := (*flaggerv1beta1.Canary)(release(t, e.ns, ""))
	if err := e.cl.Create(t.Context(), c); err != nil {
		t.Fatalf("create flagger.app canary: %v", err)
	}
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseInitialized, 2*time.Minute, v1beta1.PhaseFailed)
	checkFlaggerStatus(t, e, "Initialized", "0")
	// What the release creates is owned by the flagger.app Canary: an
	// owner in another group would not exist, and the garbage collector
	// would delete it.
	for name, obj := range map[string]client.Object{"podinfo-primary": &appsv1.Deployment{}, "podinfo-canary": &corev1.Service{}} {
		if err := e.cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].APIVersion != "flagger.app/v1beta1" || refs[0].Kind != "Canary" || refs[0].UID != c.UID {
			t.Errorf("%T %s owned by %+v, want the flagger.app Canary", obj, name, refs)
		}
	}
	sel := fmt.Sprintf(`namespace=%q`, e.ns)
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_total{%s}`, sel), equal(1))

	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitRelease(t, e)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	checkFlaggerStatus(t, e, "Succeeded", "0")
	checkPromoted(t, e, image171)
	waitQuery(t, e.prom, fmt.Sprintf(`max_over_time(flagger_canary_weight{workload="podinfo",%s}[10m])`, sel), equal(100))
	waitQuery(t, e.prom, fmt.Sprintf(`min_over_time(flagger_canary_weight{workload="podinfo-primary",%s}[10m])`, sel), equal(0))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_weight{workload="podinfo",%s}`, sel), equal(0))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_status{name="podinfo",%s}`, sel), equal(1))

	e.mesh.setCanary(behaviour{ErrorRate: 0.2, LatencyMS: 4})
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image170)
	waitRelease(t, e)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 3*time.Minute, v1beta1.PhaseSucceeded)
	checkFlaggerStatus(t, e, "Failed", "0")
	checkRolledBack(t, e, image171)
	v := waitQuery(t, e.prom, `flagger_canary_status > 1`, equal(2))
	if got := v.Result[0].Metric; got["name"] != "podinfo" || got["namespace"] != e.ns {
		t.Errorf("flagger_canary_status > 1 returned %v, want the podinfo canary of %s", got, e.ns)
	}
	waitEvent(t, e.cl, e.ns, "podinfo", "Canary failed!")
}

// checkFlaggerStatus checks the flagger.app Canary podinfo as stored: its
// status has Flagger's fields only (the server pruned serin's) and the
// printer columns of Flagger's CRD, what `kubectl get canaries` shows, read
// the phase and weight.
func checkFlaggerStatus(t *testing.T, e *env, phase, weight string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(flaggerv1beta1.GroupVersion.WithKind("Canary"))
	if err := e.cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "podinfo"}, u); err != nil {
		t.Fatal(err)
	}
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	for k := range st {
		if !slices.Contains([]string{"phase", "failedChecks", "canaryWeight", "iterations", "trackedConfigs", "lastAppliedSpec",
			"lastPromotedSpec", "lastTransitionTime", "sessionAffinityCookie", "previousSessionAffinityCookie", "conditions"}, k) {
			t.Errorf("status.%s stored, want Flagger's status fields only", k)
		}
	}
	if st["phase"] != phase || st["lastAppliedSpec"] == "" || st["lastTransitionTime"] == nil {
		t.Errorf("status %v, want phase %s with lastAppliedSpec and lastTransitionTime", st, phase)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	if !slices.ContainsFunc(conds, func(c any) bool {
		m := c.(map[string]any)
		return m["type"] == "Promoted" && m["reason"] == phase
	}) {
		t.Errorf("status.conditions %v, want Flagger's Promoted condition with reason %s", conds, phase)
	}

	cols, row := canaryTable(t, e.cluster.RESTConfig(), e.ns)
	for name, want := range map[string]string{"Status": phase, "Weight": weight} {
		i := slices.Index(cols, name)
		if i < 0 || fmt.Sprint(row[i]) != want {
			t.Errorf("kubectl get canaries: column %s of %v = %v, want %s", name, cols, row, want)
		}
	}
	if i := slices.Index(cols, "LastTransitionTime"); i < 0 || row[i] == nil || row[i] == "" {
		t.Errorf("kubectl get canaries: no LastTransitionTime in %v %v", cols, row)
	}
}

// canaryTable returns the columns and the first row of the server-side
// table of the namespace's flagger.app Canaries, which kubectl get prints.
func canaryTable(t *testing.T, cfg *rest.Config, ns string) ([]string, []any) {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cfg.Host+"/apis/flagger.app/v1beta1/namespaces/"+ns+"/canaries", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("table of canaries: %d %v\n%s", resp.StatusCode, err, b)
	}
	var table struct {
		Columns []struct {
			Name string `json:"name"`
		} `json:"columnDefinitions"`
		Rows []struct {
			Cells []any `json:"cells"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table of canaries: %v\n%s", err, b)
	}
	var cols []string
	for _, c := range table.Columns {
		cols = append(cols, c.Name)
	}
	return cols, table.Rows[0].Cells
}
