package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/notify"
	"github.com/serinhq/serin/internal/testenv"
)

// flaggerLinkerdArgs are the args of Flagger's own Linkerd installation
// (its kustomize/linkerd overlay), as it writes them: Go's single-dash
// flags.
var flaggerLinkerdArgs = []string{
	"-log-level=info",
	"-include-label-prefix=app.kubernetes.io",
	"-mesh-provider=gatewayapi:v1beta1",
	"-metrics-server=http://prometheus.linkerd-viz:9090",
}

// TestControllerBinaryFlaggerArgs runs the `serin controller` binary with
// the args of Flagger's Linkerd Deployment, unchanged, plus the kubeconfig
// and port a test needs: /healthz, /readyz and /metrics answer on the one
// port, as Flagger's probes expect, and the walkthrough's Canary is
// initialised with a Gateway API v1beta1 HTTPRoute.
func TestControllerBinaryFlaggerArgs(t *testing.T) {
	cluster := startCluster(t)
	bin := buildSerin(t)
	cl := cluster.Client()
	ns := "flaggerargs"
	applyExample(t, cl, ns)

	addr := freeAddr(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"controller", "-kubeconfig=" + cluster.Kubeconfig(), "-port=" + port}, flaggerLinkerdArgs...)
	p := startControllerProcess(t, bin, "127.0.0.1:"+port, args)

	for _, path := range []string{"/healthz", "/readyz"} {
		code, body, err := httpGet(t.Context(), "http://127.0.0.1:"+port+path)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET :%s%s = %d %q, %v; want 200", port, path, code, body, err)
		}
	}
	code, body, err := httpGet(t.Context(), "http://127.0.0.1:"+port+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET :%s/metrics = %d, %v", port, code, err)
	}
	if !strings.Contains(body, `flagger_info{mesh_provider="gatewayapi:v1beta1",version="`) {
		t.Errorf("/metrics has no flagger_info for gatewayapi:v1beta1:\n%.2000s", body)
	}

	c := loadCanary(t, ns)
	if err := cl.Create(t.Context(), c); err != nil {
		t.Fatalf("create canary: %v", err)
	}
	waitPhase(t, cl, ns, "podinfo", v1beta1.PhaseInitialized, 2*time.Minute, v1beta1.PhaseFailed)
	route := &gatewayv1beta1.HTTPRoute{}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, route); err != nil {
		t.Fatalf("HTTPRoute v1beta1 podinfo: %v", err)
	}
	if b := route.Spec.Rules[len(route.Spec.Rules)-1].BackendRefs; len(b) != 2 || b[0].Name != "podinfo-primary" || *b[0].Weight != 100 {
		t.Errorf("HTTPRoute backends = %+v, want all traffic to podinfo-primary", b)
	}
	// -include-label-prefix=app.kubernetes.io: the primary copies those
	// labels of the target only.
	primary, err := deploymentLabels(t.Context(), cl, ns, "podinfo-primary")
	if err != nil {
		t.Fatal(err)
	}
	for k := range primary {
		if k != "app" && !strings.HasPrefix(k, "app.kubernetes.io") {
			t.Errorf("primary label %s copied, want only app.kubernetes.io labels", k)
		}
	}

	if err := p.signal(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("controller exited with %v after SIGTERM, want status 0", err)
	}
}

// deploymentLabels returns the labels of a Deployment.
func deploymentLabels(ctx context.Context, cl client.Client, ns, name string) (map[string]string, error) {
	d := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return nil, err
	}
	return d.Labels, nil
}

// TestFlaggerMetricsInPrometheus releases the walkthrough's podinfo with a
// real Prometheus scraping the controller: flagger_canary_weight follows
// the release, and after a rollback Flagger's alert expression
// flagger_canary_status > 1 returns the Canary's series.
func TestFlaggerMetricsInPrometheus(t *testing.T) {
	cluster := startCluster(t)
	e := &env{cluster: cluster, cl: cluster.Client(), ns: "flaggermetrics"}
	applyExample(t, e.cl, e.ns)
	e.route = trafficSplitWeights(e.cl, e.ns, "podinfo")
	e.mesh = startMesh(t, e.ns, "podinfo", e.route)
	metricsAddr := freeAddr(t)
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr, metricsAddr}, time.Second)
	slack, events := startReceiver(t), startReceiver(t)
	e.opts = kube.Options{MeshProvider: "linkerd", MetricsServer: e.prom.URL, MetricsAddr: metricsAddr, ControlLoopInterval: time.Second,
		Alerts: kube.GlobalAlerts{
			Chat:         &notify.Global{Type: "slack", Address: slack.URL, Channel: "releases", Username: "flagger"},
			EventWebhook: events.URL,
			ClusterName:  "test-cluster",
		}}
	e.ctrl = startController(t, cluster.RESTConfig(), e.opts)
	e.initialize(t, release(t, e.ns, ""))

	sel := fmt.Sprintf(`namespace=%q`, e.ns)
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_total{%s}`, sel), equal(1))

	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitRelease(t, e)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	// The canary's weight rose step by step to maxWeight during the
	// release, the primary's fell to 0, and both are back: canary 0,
	// primary 100.
	waitQuery(t, e.prom, fmt.Sprintf(`changes(flagger_canary_weight{workload="podinfo",%s}[10m])`, sel), atLeast(10))
	waitQuery(t, e.prom, fmt.Sprintf(`max_over_time(flagger_canary_weight{workload="podinfo",%s}[10m])`, sel), equal(100))
	waitQuery(t, e.prom, fmt.Sprintf(`min_over_time(flagger_canary_weight{workload="podinfo-primary",%s}[10m])`, sel), equal(0))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_weight{workload="podinfo",%s}`, sel), equal(0))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_weight{workload="podinfo-primary",%s}`, sel), equal(100))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_status{name="podinfo",%s}`, sel), equal(1))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_successes_total{name="podinfo",deployment_strategy="canary",analysis_status="completed",%s}`, sel), equal(1))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_metric_analysis{name="podinfo",metric="request-success-rate",%s}`, sel), equal(100))

	// A faulty release is rolled back and Flagger's alert fires.
	e.mesh.setCanary(behaviour{ErrorRate: 0.2, LatencyMS: 4})
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image170)
	waitRelease(t, e)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 3*time.Minute, v1beta1.PhaseSucceeded)
	v := waitQuery(t, e.prom, `flagger_canary_status > 1`, equal(2))
	if got := v.Result[0].Metric; got["name"] != "podinfo" || got["namespace"] != e.ns {
		t.Errorf("flagger_canary_status > 1 returned %v, want the podinfo canary of %s", got, e.ns)
	}
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_failures_total{name="podinfo",%s}`, sel), equal(1))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_weight{workload="podinfo",%s}`, sel), equal(0))
	waitQuery(t, e.prom, fmt.Sprintf(`flagger_canary_duration_seconds_count{name="podinfo",%s}`, sel), atLeast(2))

	// The controller's own alert destinations (-slack-url, -event-webhook,
	// -cluster-name) got the release's announcements and every event.
	var texts []string
	for _, b := range slack.bodies() {
		att := b["attachments"].([]any)[0].(map[string]any)
		if b["channel"] != "releases" || att["author_name"] != "podinfo."+e.ns+" (cluster test-cluster)" {
			t.Errorf("slack message %v", b)
		}
		texts = append(texts, att["text"].(string))
	}
	for _, want := range []string{"Initialization done!", "New revision detected!", "Promotion completed!", "Canary failed!"} {
		if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no slack message starting %q in %q", want, texts)
		}
	}
	// As Flagger's, one message per rollback, and none for the steps.
	for prefix, want := range map[string]int{"Canary failed!": 1, "Rolling back": 0, "Advance": 0} {
		if n := len(slices.DeleteFunc(slices.Clone(texts), func(s string) bool { return !strings.HasPrefix(s, prefix) })); n != want {
			t.Errorf("%d slack messages start %q, want %d: %q", n, prefix, want, texts)
		}
	}
	if n := len(events.bodies()); n <= len(texts) {
		t.Errorf("event webhook got %d events, want every event (more than the %d announcements)", n, len(texts))
	}
}

// receiver is an HTTP server that records the JSON bodies posted to it.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen []map[string]any
}

func startReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.seen = append(r.seen, b)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) bodies() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// promVector is the data of an instant query's answer.
type promVector struct {
	Result []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

// valueCheck says whether a query's value is the one awaited, and names
// it.
type valueCheck struct {
	ok   func(float64) bool
	name string
}

func equal(want float64) valueCheck {
	return valueCheck{func(v float64) bool { return v == want }, fmt.Sprintf("== %v", want)}
}

func atLeast(want float64) valueCheck {
	return valueCheck{func(v float64) bool { return v >= want }, fmt.Sprintf(">= %v", want)}
}

// waitQuery polls Prometheus until query returns exactly one series whose
// value passes check, and returns the answer.
func waitQuery(t *testing.T, p *testenv.Prometheus, query string, check valueCheck) promVector {
	t.Helper()
	var v promVector
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%s %s in Prometheus", query, check.name), func(ctx context.Context) (bool, error) {
		data, err := p.Query(ctx, query)
		if err != nil {
			return false, err
		}
		v = promVector{}
		if err := json.Unmarshal(data, &v); err != nil {
			return false, err
		}
		if len(v.Result) != 1 {
			return false, fmt.Errorf("answer %s", data)
		}
		s, _ := v.Result[0].Value[1].(string)
		got, err := strconv.ParseFloat(s, 64)
		if err != nil || !check.ok(got) {
			return false, fmt.Errorf("answer %s", data)
		}
		return true, nil
	})
	return v
}

// TestKubernetesProviderBlueGreen releases the walkthrough's Canary,
// unchanged, with -mesh-provider=kubernetes: as in Flagger, with no traffic
// split the release is blue/green (10 iterations, a Warning event says
// so), no route object is written, the apex Service selects the primary
// throughout, and the primary is promoted in place.
func TestKubernetesProviderBlueGreen(t *testing.T) {
	cluster := startCluster(t)
	e := &env{cluster: cluster, cl: cluster.Client(), ns: "bluegreen"}
	applyExample(t, e.cl, e.ns)
	// No mesh: a load tester sends a tenth of the requests to podinfo-canary.
	e.route = func(context.Context) (int, int, error) { return 90, 10, nil }
	e.mesh = startMesh(t, e.ns, "podinfo", e.route)
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr}, time.Second)
	e.opts = kube.Options{MeshProvider: "kubernetes", MetricsServer: e.prom.URL}
	e.ctrl = startController(t, cluster.RESTConfig(), e.opts)
	e.initialize(t, release(t, e.ns, ""))

	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitRelease(t, e)
	c := waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	testenv.Eventually(t, 30*time.Second, "promoted primary and idle target", func(ctx context.Context) (bool, error) {
		got, _, err := image(ctx, e.cl, e.ns, "podinfo-primary", "podinfod")
		if err != nil || got != image171 {
			return false, err
		}
		_, n, err := image(ctx, e.cl, e.ns, "podinfo", "podinfod")
		return err == nil && n == 0, err
	})
	if c.Status.CanaryWeight != 0 {
		t.Errorf("status weight %d, want 0", c.Status.CanaryWeight)
	}
	svc := &corev1.Service{}
	if err := e.cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "podinfo"}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["app"] != "podinfo-primary" {
		t.Errorf("apex selector = %v, want app=podinfo-primary", svc.Spec.Selector)
	}
	for _, route := range []client.Object{&gatewayv1beta1.HTTPRoute{}, trafficSplit()} {
		if err := e.cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "podinfo"}, route); !apierrors.IsNotFound(err) {
			t.Errorf("%T podinfo: %v, want none", route, err)
		}
	}
	want := []string{
		"Warning Progressive traffic is not supported when using the kubernetes provider: running 10 blue/green iterations",
		"Normal Starting canary analysis for podinfo." + e.ns + ": traffic stays on podinfo-primary." + e.ns + " for 10 iterations",
		"Normal Advance podinfo." + e.ns + " canary iteration 1/10",
	}
	var seen []string
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("events %q", want), func(ctx context.Context) (bool, error) {
		list := &corev1.EventList{}
		if err := e.cl.List(ctx, list, client.InNamespace(e.ns)); err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			seen = append(seen, ev.Type+" "+ev.Message)
		}
		for _, w := range want {
			if !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, w) }) {
				return false, fmt.Errorf("no event %q in %q", w, seen)
			}
		}
		return true, nil
	})
}

// trafficSplit is an empty SMI TrafficSplit, to read one.
func trafficSplit() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(trafficSplitGVK)
	return u
}
