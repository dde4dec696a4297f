package kube

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// latencyBuckets are the buckets of Linkerd's response_latency_ms.
var latencyBuckets = []float64{1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000}

// behaviour is how a revision answers.
type behaviour struct {
	// ErrorRate is the share of requests that fail (5xx).
	ErrorRate float64
	// LatencyMS of every request.
	LatencyMS float64
}

// mesh plays Linkerd's proxies for one Service: 10 requests a second, split
// between the primary and the canary by the weights in the route object,
// counted in Linkerd's metric names.
type mesh struct {
	namespace, target string
	route             func(ctx context.Context) (primary, canary int, err error)
	addr              string

	responses *prometheus.CounterVec
	latency   *prometheus.HistogramVec

	mu        sync.Mutex
	canary    behaviour
	primary   behaviour
	credit    float64 // canary's share of requests owed
	errCredit map[string]float64
	sent      map[string]int // requests per deployment
	failed    map[string]int
	served    int // requests to serveCanary's listener
}

// startMesh starts the exporter and its traffic; both stop with the test.
func startMesh(t *testing.T, namespace, target string, route func(ctx context.Context) (int, int, error)) *mesh {
	t.Helper()
	m := &mesh{
		namespace: namespace, target: target, route: route,
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "response_total", Help: "Responses by the proxy.",
		}, []string{"direction", "classification", "status_code", "namespace", "deployment"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "response_latency_ms", Help: "Response latency in milliseconds.", Buckets: latencyBuckets,
		}, []string{"direction", "status_code", "namespace", "deployment"}),
		errCredit: map[string]float64{},
		sent:      map[string]int{},
		failed:    map[string]int{},
		primary:   behaviour{LatencyMS: 4},
		canary:    behaviour{LatencyMS: 4},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.responses, m.latency)
	// Series of both deployments exist from the start, at zero, so that
	// rate() sees the first requests.
	for _, d := range []string{target, target + "-primary"} {
		m.responses.WithLabelValues("inbound", "success", "200", namespace, d)
		m.responses.WithLabelValues("inbound", "failure", "500", namespace, d)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return m
}

// setCanary sets how the canary (the target's new revision) answers.
func (m *mesh) setCanary(b behaviour) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.canary = b
}

// counts returns the requests sent to and failed by a deployment.
func (m *mesh) counts(deployment string) (sent, failed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[deployment], m.failed[deployment]
}

// servedCanary returns the requests serveCanary's listener answered.
func (m *mesh) servedCanary() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.served
}

// run sends a request every 100ms until ctx ends. The route is read once a
// second, as a proxy refreshes its view of the split.
func (m *mesh) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var canaryWeight, n int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n%10 == 0 {
			if p, c, err := m.route(ctx); err == nil && p+c > 0 {
				canaryWeight = int(c * 100 / (p + c))
			} else {
				canaryWeight = 0 // no split: the apex Service reaches the primary
			}
		}
		n++
		m.request(canaryWeight)
	}
}

// request counts one request, sent to the canary when its share of the
// requests so far is owed (a smooth weighted round robin, so that the
// counts follow the weights without randomness).
func (m *mesh) request(canaryWeight int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.credit += float64(canaryWeight) / 100
	deployment, b := m.target+"-primary", m.primary
	if m.credit >= 1 {
		m.credit--
		deployment, b = m.target, m.canary
	}
	m.count(deployment, b)
}

// count counts a request answered by deployment as b says, and reports
// whether it failed. The caller holds m.mu.
func (m *mesh) count(deployment string, b behaviour) (failed bool) {
	m.sent[deployment]++
	m.errCredit[deployment] += b.ErrorRate
	class, code := "success", "200"
	if m.errCredit[deployment] >= 1 {
		m.errCredit[deployment]--
		m.failed[deployment]++
		class, code, failed = "failure", "500", true
	}
	m.responses.WithLabelValues("inbound", class, code, m.namespace, deployment).Inc()
	m.latency.WithLabelValues("inbound", code, m.namespace, deployment).Observe(b.LatencyMS)
	return failed
}

// serveCanary listens for requests to the canary's pods, as the
// <target>-canary Service reaches them: each request is answered as the
// canary behaves (500 when it fails) and counted in the canary's metrics,
// as Linkerd's proxy in the canary's pod counts it. It returns the
// address; the listener closes with the test.
func (m *mesh) serveCanary(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		m.served++
		failed := m.count(m.target, m.canary)
		m.mu.Unlock()
		if failed {
			http.Error(w, "canary failed on purpose", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"hostname":"` + m.target + `-canary"}`))
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

var (
	trafficSplitGVK = schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha1", Kind: "TrafficSplit"}
	httpRouteGVK    = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
)

// trafficSplitWeights reads the weights of the primary and the canary
// Service in a TrafficSplit (v1alpha1: quantities).
func trafficSplitWeights(cl client.Client, ns, name string) func(ctx context.Context) (int, int, error) {
	return func(ctx context.Context) (int, int, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(trafficSplitGVK)
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			return 0, 0, err
		}
		backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
		return weights(backends, "service", name)
	}
}

// httpRouteWeights reads the weights of the primary and the canary Service
// in an HTTPRoute's last rule (the default route; rules before it are
// header matches).
func httpRouteWeights(cl client.Client, ns, name string) func(ctx context.Context) (int, int, error) {
	return func(ctx context.Context) (int, int, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(httpRouteGVK)
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			return 0, 0, err
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		if len(rules) == 0 {
			return 0, 0, errNoRoute
		}
		refs, _, _ := unstructured.NestedSlice(rules[len(rules)-1].(map[string]any), "backendRefs")
		return weights(refs, "name", name)
	}
}

type routeError string

func (e routeError) Error() string { return string(e) }

const errNoRoute = routeError("route has no backends")

// weights reads the primary's and canary's weights from a backend list.
func weights(backends []any, nameField, svc string) (int, int, error) {
	var primary, canary int
	found := false
	for _, b := range backends {
		bm, _ := b.(map[string]any)
		name, _ := bm[nameField].(string)
		w := toInt(bm["weight"])
		switch name {
		case svc + "-primary":
			primary, found = w, true
		case svc + "-canary":
			canary, found = w, true
		}
	}
	if !found {
		return 0, 0, errNoRoute
	}
	return primary, canary, nil
}

// toInt reads a weight: an integer, or a quantity such as "90" or "900m"
// (rounded up to an integer).
func toInt(v any) int {
	switch w := v.(type) {
	case int64:
		return int(w)
	case float64:
		return int(w)
	case string:
		if q, err := resource.ParseQuantity(w); err == nil {
			return int(q.Value())
		}
	}
	return 0
}
