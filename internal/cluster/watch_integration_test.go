package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/metrics/prometheus"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
)

// startCluster starts an API server with RBAC and the serin.dev and
// flagger.app Canary CRDs.
func startCluster(t *testing.T) *testenv.Cluster {
	t.Helper()
	flagger := filepath.Join(t.TempDir(), "flagger.app_canaries.yaml")
	if err := os.WriteFile(flagger, flaggerCRD(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return testenv.Start(t, testenv.Options{
		CRDs:             []string{"../../deploy/crds", flagger},
		RBAC:             true,
		ControlPlaneOnly: true,
	})
}

// flaggerCRD is serin's Canary CRD in Flagger's group.
func flaggerCRD(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../deploy/crds/serin.dev_canaries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "canaries.serin.dev", "canaries.flagger.app")
	return []byte(strings.ReplaceAll(s, "group: serin.dev", "group: flagger.app"))
}

// flaggerCanary is a flagger.app Canary ns/name.
func flaggerCanary(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"service":   map[string]any{"port": int64(8080)},
			"analysis":  map[string]any{"interval": "10s", "threshold": int64(5), "stepWeight": int64(10)},
		},
	}}
}

// startWatcher runs a Watcher of cfg until the test ends.
func startWatcher(t *testing.T, cfg *rest.Config, o cluster.WatchOptions) *cluster.Watcher {
	t.Helper()
	w, err := cluster.NewWatcher(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	return w
}

func canary(ns, name string) *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50},
		},
	}
}

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/stefanprodan/podinfo:6.7.0"}}},
			},
		},
	}
}

func event(ns, name, kind, objName, reason string, at time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: objName},
		Type:           corev1.EventTypeNormal, Reason: reason, Message: reason + " of " + objName,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at), Count: 1,
	}
}

func create(t *testing.T, cl client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := cl.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// TestWatcher checks the dashboard's cluster Source on a real API server:
// objects created after it started and their changes arrive through the
// watches, events are numbered in the order seen and can be waited for,
// and a command sets the Canary's annotation.
func TestWatcher(t *testing.T) {
	c := startCluster(t)
	cl := c.Client()
	ns := c.CreateNamespace(t, "test")
	before := time.Now().Add(-time.Minute).Truncate(time.Second)
	create(t, cl, event(ns, "old", "Canary", "podinfo", "Synced", before))

	w := startWatcher(t, c.RESTConfig(), cluster.WatchOptions{})
	snapshot := func(ctx context.Context) (local.Snapshot, error) { return w.Snapshot(ctx) }

	create(t, cl, deployment(ns, "podinfo"), canary(ns, "podinfo"))
	create(t, cl, flaggerCanary(ns, "legacy"))
	testenv.Eventually(t, 30*time.Second, "both Canaries and the Deployment in the snapshot", func(ctx context.Context) (bool, error) {
		s, err := snapshot(ctx)
		if err != nil {
			return false, err
		}
		var kinds []string
		for _, cn := range s.Canaries {
			if cn.Namespace == ns {
				kinds = append(kinds, cn.APIVersion+" "+cn.Name)
			}
		}
		return slices.Equal(kinds, []string{"flagger.app/v1beta1 legacy", "serin.dev/v1beta1 podinfo"}) &&
			slices.ContainsFunc(s.Deployments, func(d local.DeploymentView) bool {
				return d.Deployment.Namespace == ns && d.Deployment.Name == "podinfo" && *d.Deployment.Spec.Replicas == 2
			}), nil
	})

	// A status change arrives through the watch.
	cn := &v1beta1.Canary{}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, cn); err != nil {
		t.Fatal(err)
	}
	cn.Status.Phase, cn.Status.CanaryWeight = v1beta1.PhaseProgressing, 20
	if err := cl.Status().Update(t.Context(), cn); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the Canary Progressing at 20%", func(ctx context.Context) (bool, error) {
		s, err := snapshot(ctx)
		if err != nil {
			return false, err
		}
		for _, c := range s.Canaries {
			if c.Namespace == ns && c.Name == "podinfo" {
				return c.Status.Phase == v1beta1.PhaseProgressing && c.Status.CanaryWeight == 20, nil
			}
		}
		return false, nil
	})

	// A pod of the Deployment, with its ReplicaSet's name and hash.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-5d8f9-abcde",
			Labels:          map[string]string{"app": "podinfo", appsv1.DefaultDeploymentUniqueLabelKey: "5d8f9"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "podinfo-5d8f9", UID: "u"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo"}}},
	}
	create(t, cl, pod)
	testenv.Eventually(t, 30*time.Second, "the pod under its Deployment", func(ctx context.Context) (bool, error) {
		s, err := snapshot(ctx)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(s.Pods, func(p local.PodStatus) bool {
			return p.Namespace == ns && p.Deployment == "podinfo" && p.Revision == "5d8f9" && !p.Running
		}), nil
	})

	// Events: the one from before the start first, then new ones as they
	// come, each numbered after the last; a pod's event is not watched.
	var mu sync.Mutex
	var got []local.Event
	ctx, cancel := context.WithCancel(t.Context())
	watched := make(chan error, 1)
	go func() {
		watched <- w.Events(ctx, 0, true, func(e local.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if e.Namespace == ns {
				got = append(got, e)
			}
			return nil
		})
	}()
	now := time.Now().Truncate(time.Second)
	create(t, cl, event(ns, "pod", "Pod", "podinfo-5d8f9-abcde", "Scheduled", now))
	create(t, cl, event(ns, "start", "Canary", "podinfo", "Progressing", now))
	create(t, cl, event(ns, "scale", "Deployment", "podinfo", "ScalingReplicaSet", now))
	testenv.Eventually(t, 30*time.Second, "three events through the watch", func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 3, nil
	})
	cancel()
	if err := <-watched; err != nil {
		t.Errorf("Events with watch: %v", err)
	}
	mu.Lock()
	var reasons []string
	for i, e := range got {
		reasons = append(reasons, e.Reason)
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("event %d has seq %d after %d", i, e.Seq, got[i-1].Seq)
		}
	}
	mu.Unlock()
	if !slices.Equal(reasons, []string{"Synced", "Progressing", "ScalingReplicaSet"}) {
		t.Errorf("events %v, want Synced, Progressing, ScalingReplicaSet (no pod event)", reasons)
	}
	var after []string
	if err := w.Events(t.Context(), got[0].Seq, false, func(e local.Event) error {
		if e.Namespace == ns {
			after = append(after, e.Reason)
		}
		return nil
	}); err != nil || !slices.Equal(after, reasons[1:]) {
		t.Errorf("events after seq %d: %v, %v; want %v", got[0].Seq, after, err, reasons[1:])
	}

	// Without Prometheus there are no golden metrics, and no error.
	if stats, err := w.Stats(t.Context(), time.Minute); err != nil || stats != nil {
		t.Errorf("Stats without Prometheus = %v, %v; want none", stats, err)
	}

	if err := w.Command(t.Context(), ns, "podinfo", rollout.Promote); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, cn); err != nil {
		t.Fatal(err)
	}
	if got := cn.Annotations[cluster.CommandAnnotation]; got != string(rollout.Promote) {
		t.Errorf("annotation %s = %q after promote", cluster.CommandAnnotation, got)
	}
}

// TestWatcherRBAC checks a Watcher as a user of the API server: one who
// may not list what it watches is told so, naming what; one who may list
// serin's Canaries, Deployments, pods and events in a namespace, but not
// Flagger's Canaries, sees that namespace's.
func TestWatcherRBAC(t *testing.T) {
	c := startCluster(t)
	ns := c.CreateNamespace(t, "test")
	create(t, c.Client(), canary(ns, "podinfo"))
	as := func(token string) *rest.Config {
		cfg := c.RESTConfig()
		cfg.BearerToken = token
		return cfg
	}
	w := startWatcher(t, as(c.ServiceAccountToken(t, ns, "nobody")), cluster.WatchOptions{Namespace: ns})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err := w.Snapshot(ctx)
	if err == nil || !strings.Contains(err.Error(), "could not be listed") || !strings.Contains(err.Error(), "forbidden") ||
		!strings.Contains(err.Error(), "canaries.serin.dev") {
		t.Errorf("Snapshot as a user without rights: %v, want a forbidden error naming canaries.serin.dev", err)
	}

	reader := c.ServiceAccountToken(t, ns, "reader",
		rbacv1.PolicyRule{APIGroups: []string{"serin.dev"}, Resources: []string{"canaries"}, Verbs: []string{"list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"list", "watch"}})
	w = startWatcher(t, as(reader), cluster.WatchOptions{Namespace: ns})
	testenv.Eventually(t, 30*time.Second, "the reader's snapshot", func(ctx context.Context) (bool, error) {
		s, err := w.Snapshot(ctx)
		return err == nil && len(s.Canaries) == 1 && s.Canaries[0].Name == "podinfo", err
	})
}

// TestTokenAuthenticator checks the in-cluster dashboard's callers on a
// real API server: no or a bad token is unauthenticated; a viewer
// ServiceAccount allowed to list canaries in one namespace may view that
// one only and command nothing; an operator allowed to patch them may
// command, and its promote sets the annotation.
func TestTokenAuthenticator(t *testing.T) {
	c := startCluster(t)
	cl := c.Client()
	ns, other := c.CreateNamespace(t, "test"), c.CreateNamespace(t, "other")
	create(t, cl, canary(ns, "podinfo"), canary(other, "podinfo"))
	canaries := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"serin.dev"}, Resources: []string{"canaries"}, Verbs: verbs}
	}
	viewerToken := c.ServiceAccountToken(t, ns, "viewer", canaries("get", "list", "watch"))
	operatorToken := c.ServiceAccountToken(t, ns, "operator", canaries("get", "list", "watch", "patch"))

	auth, err := cluster.NewTokenAuthenticator(c.RESTConfig(), cluster.TokenAuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	request := func(header string) *http.Request {
		r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://serin-dashboard:9898/api/state", nil)
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return r
	}
	for _, h := range []string{"", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer not-a-token"} {
		if caller, err := auth.Authenticate(request(h)); !errors.Is(err, dashboard.ErrUnauthenticated) {
			t.Errorf("Authorization %q: caller %v, error %v; want ErrUnauthenticated", h, caller, err)
		}
	}

	can := func(caller dashboard.Caller, verb, ns, name string) bool {
		t.Helper()
		ok, err := caller.Can(t.Context(), verb, ns, name)
		if err != nil {
			t.Fatalf("%s Can(%s, %s, %s): %v", caller.Name(), verb, ns, name, err)
		}
		return ok
	}
	viewer, err := auth.Authenticate(request("Bearer " + viewerToken))
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	if want := "system:serviceaccount:" + ns + ":viewer"; viewer.Name() != want {
		t.Errorf("viewer's name %q, want %q", viewer.Name(), want)
	}
	if !can(viewer, dashboard.VerbView, ns, "") {
		t.Errorf("the viewer may not view %s", ns)
	}
	if can(viewer, dashboard.VerbView, other, "") || can(viewer, dashboard.VerbView, "", "") {
		t.Errorf("the viewer may view %s or every namespace", other)
	}
	if can(viewer, dashboard.VerbCommand, ns, "podinfo") {
		t.Errorf("the viewer may command %s/podinfo", ns)
	}
	if _, err := viewer.Can(t.Context(), "delete", ns, "podinfo"); err == nil {
		t.Errorf("an unknown verb was answered")
	}

	operator, err := auth.Authenticate(request("bearer " + operatorToken))
	if err != nil {
		t.Fatalf("operator: %v", err)
	}
	if !can(operator, dashboard.VerbCommand, ns, "podinfo") || can(operator, dashboard.VerbCommand, other, "podinfo") {
		t.Errorf("the operator may not command %s/podinfo, or may command %s/podinfo", ns, other)
	}
	// The controller's own credentials write the command once the
	// caller may.
	w := startWatcher(t, c.RESTConfig(), cluster.WatchOptions{})
	if err := w.Command(t.Context(), ns, "podinfo", rollout.Promote); err != nil {
		t.Fatal(err)
	}
	cn := &v1beta1.Canary{}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, cn); err != nil {
		t.Fatal(err)
	}
	if cn.Annotations[cluster.CommandAnnotation] != string(rollout.Promote) {
		t.Errorf("annotations after promote: %v", cn.Annotations)
	}
}

// TestWatcherStats checks the golden metrics from a real Prometheus
// scraping Linkerd-shaped counters: the Deployment with traffic has its
// success rate and RPS, the other none; and an unreachable Prometheus
// leaves the Deployments without traffic rather than failing the page.
func TestWatcherStats(t *testing.T) {
	c := startCluster(t)
	ns := c.CreateNamespace(t, "test")
	create(t, c.Client(), deployment(ns, "podinfo"), deployment(ns, "idle"))

	start := time.Now()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := int(10 * time.Since(start).Seconds()) // 10 requests a second, all fast and successful
		labels := fmt.Sprintf(`direction="inbound",namespace=%q,deployment="podinfo"`, ns)
		fmt.Fprintf(w, "# TYPE response_total counter\nresponse_total{%s,classification=\"success\"} %d\n", labels, n)
		fmt.Fprintf(w, "# TYPE response_latency_ms histogram\n")
		fmt.Fprintf(w, "response_latency_ms_bucket{%s,le=\"10\"} %d\nresponse_latency_ms_bucket{%s,le=\"+Inf\"} %d\n", labels, n, labels, n)
		fmt.Fprintf(w, "response_latency_ms_sum{%s} %d\nresponse_latency_ms_count{%s} %d\n", labels, 5*n, labels, n)
	}))
	defer proxy.Close()
	prom := testenv.StartPrometheus(t, []string{strings.TrimPrefix(proxy.URL, "http://")}, 500*time.Millisecond)
	q, err := prometheus.NewClient(prometheus.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, c.RESTConfig(), cluster.WatchOptions{Namespace: ns, Prometheus: q, StatsTTL: 100 * time.Millisecond})
	testenv.Eventually(t, 30*time.Second, "podinfo's golden metrics", func(ctx context.Context) (bool, error) {
		stats, err := w.Stats(ctx, time.Minute)
		if err != nil {
			return false, err
		}
		var podinfo, idle *local.DeploymentStat
		for i := range stats {
			switch stats[i].Name {
			case "podinfo":
				podinfo = &stats[i]
			case "idle":
				idle = &stats[i]
			}
		}
		if podinfo == nil || idle == nil {
			return false, fmt.Errorf("stats %+v lack a Deployment", stats)
		}
		if idle.HasTraffic {
			t.Fatalf("idle has traffic: %+v", idle)
		}
		s := podinfo.Stats
		return podinfo.HasTraffic && s.SuccessRate == 100 && s.RPS > 0 && s.Requests > 0 && s.Failures == 0 &&
			s.P50 > 0 && s.P99 <= 10 && podinfo.Meshed == "0/0", nil
	})

	down, err := prometheus.NewClient(prometheus.Config{Address: "http://127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w = startWatcher(t, c.RESTConfig(), cluster.WatchOptions{Namespace: ns, Prometheus: down})
	stats, err := w.Stats(t.Context(), time.Minute)
	if err != nil || len(stats) != 2 || stats[0].HasTraffic || stats[1].HasTraffic {
		t.Errorf("Stats with Prometheus down = %+v, %v; want both Deployments without traffic and no error", stats, err)
	}
}

// TestWatcherFlaggerLater checks that Flagger's Canaries are watched once
// their CRD is installed, after the Watcher started without it.
func TestWatcherFlaggerLater(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}, ControlPlaneOnly: true})
	ns := c.CreateNamespace(t, "test")
	t.Cleanup(cluster.SetFlaggerRecheck(100 * time.Millisecond)) // after the Watcher stops
	w := startWatcher(t, c.RESTConfig(), cluster.WatchOptions{Namespace: ns})
	if _, err := w.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(flaggerCRD(t), crd); err != nil {
		t.Fatal(err)
	}
	create(t, c.Client(), crd)
	testenv.Eventually(t, 30*time.Second, "the flagger.app CRD to serve", func(ctx context.Context) (bool, error) {
		err := c.Client().Create(ctx, flaggerCanary(ns, "legacy"))
		return err == nil, err
	})
	testenv.Eventually(t, 30*time.Second, "the flagger.app Canary in the snapshot", func(ctx context.Context) (bool, error) {
		snap, err := w.Snapshot(ctx)
		return err == nil && len(snap.Canaries) == 1 && snap.Canaries[0].APIVersion == "flagger.app/v1beta1", err
	})
}

// TestSetImage sets a container's image on a real API server: of a
// Deployment and of a DaemonSet, as RBAC allows the caller, with one line
// naming what is wrong otherwise.
func TestSetImage(t *testing.T) {
	c := startCluster(t)
	ns := c.CreateNamespace(t, "test")
	d := deployment(ns, "podinfo")
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	create(t, c.Client(), d, ds)
	cfg := c.RESTConfig()
	cfg.BearerToken = c.ServiceAccountToken(t, ns, "releaser",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get", "patch"}})
	cl, err := cluster.NewForConfig(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	const img = "ghcr.io/stefanprodan/podinfo:6.7.1"
	for _, r := range []local.SetImageRequest{
		{Namespace: ns, Name: "podinfo", Container: "app", Image: img},
		{Kind: "Deployment", Namespace: ns, Name: "podinfo", Container: "app", Image: img},
		{Kind: "DaemonSet", Namespace: ns, Name: "agent", Container: "app", Image: img},
	} {
		if err := cl.SetImage(t.Context(), r); err != nil {
			t.Errorf("set image %+v: %v", r, err)
		}
	}
	if err := c.Client().Get(t.Context(), client.ObjectKeyFromObject(d), d); err != nil || d.Spec.Template.Spec.Containers[0].Image != img {
		t.Errorf("deployment's image: %v (%v)", d.Spec.Template.Spec.Containers, err)
	}
	if err := c.Client().Get(t.Context(), client.ObjectKeyFromObject(ds), ds); err != nil || ds.Spec.Template.Spec.Containers[0].Image != img {
		t.Errorf("daemonset's image: %v (%v)", ds.Spec.Template.Spec.Containers, err)
	}
	for r, want := range map[local.SetImageRequest]string{
		{Kind: "DaemonSet", Namespace: ns, Name: "agent", Container: "sidecar", Image: img}: `daemonset ` + ns + `/agent has no container "sidecar"`,
		{Kind: "DaemonSet", Namespace: ns, Name: "missing", Container: "app", Image: img}:   "not found",
		{Kind: "StatefulSet", Namespace: ns, Name: "db", Container: "app", Image: img}:      "want a Deployment or a DaemonSet, got a StatefulSet",
	} {
		if err := cl.SetImage(t.Context(), r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("set image %+v: %v, want %q", r, err, want)
		}
	}
}
