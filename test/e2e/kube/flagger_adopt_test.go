package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
	workload "github.com/serinhq/serin/internal/workload/kube"
)

// httpRouteV1beta1GVK is the HTTPRoute version Flagger's gatewayapi:v1beta1
// provider writes.
var httpRouteV1beta1GVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "HTTPRoute"}

// flaggerRelease is the state Flagger leaves a Canary's objects in, which
// a test writes as Flagger would have.
type flaggerRelease struct {
	phase       v1beta1.CanaryPhase
	weight      int
	applied     string // Flagger's hashes of the target's pod template
	promoted    string
	targetImage string // the target's image; the primary runs image170
	// revert sets spec.revertOnDeletion, with the finalizer Flagger adds.
	revert bool
	// httpRoute routes with the gateway.networking.k8s.io/v1beta1
	// HTTPRoute Flagger's gatewayapi:v1beta1 provider writes for Linkerd,
	// instead of an SMI TrafficSplit.
	httpRoute bool
}

// writeFlaggerState writes the walkthrough's Canary as a flagger.app Canary
// in namespace ns (where applyExample ran) with everything Flagger creates
// for it: the primary Deployment (a copy of the target at image170 with
// Flagger's labels and owner), the primary and canary Services, the apex
// Service pointed at the primary, the TrafficSplit at r's weight, and the
// status Flagger writes (its fields only, its hash format). It returns
// the primary Deployment.
func writeFlaggerState(t *testing.T, cl client.Client, ns string, r flaggerRelease) *appsv1.Deployment {
	t.Helper()
	ctx := t.Context()
	c := (*flaggerv1beta1.Canary)(release(t, ns, ""))
	if r.revert {
		c.Spec.RevertOnDeletion = true
		c.Finalizers = []string{kube.FlaggerFinalizer}
	}
	if err := cl.Create(ctx, c); err != nil {
		t.Fatalf("create flagger.app canary: %v", err)
	}
	owner := []metav1.OwnerReference{{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: c.Name, UID: c.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}

	target := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, target); err != nil {
		t.Fatal(err)
	}
	tmpl := target.Spec.Template.DeepCopy()
	tmpl.Labels = map[string]string{"app": "podinfo-primary"}
	tmpl.Annotations = map[string]string{"flagger-id": "3f0c2a52-8b7e-4d1e-9a51-6c1f0e2d7b44"}
	tmpl.Spec.Containers[0].Image = image170
	primary := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-primary", Namespace: ns, Labels: map[string]string{"app": "podinfo-primary"}, OwnerReferences: owner},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo-primary"}},
			Template: *tmpl,
		},
	}
	if err := cl.Create(ctx, primary); err != nil {
		t.Fatalf("create primary: %v", err)
	}
	orig := target.DeepCopy()
	target.Spec.Template.Spec.Containers[0].Image = r.targetImage
	if r.phase != v1beta1.PhaseProgressing {
		target.Spec.Replicas = ptr.To[int32](0) // scaled to zero after the promotion
	}
	if err := cl.Patch(ctx, target, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}

	port := []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 9898, TargetPort: intstr.FromInt32(9898)}}
	for name, app := range map[string]string{"podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}, OwnerReferences: owner},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": app}, Ports: port},
		}
		if err := cl.Create(ctx, svc); err != nil {
			t.Fatalf("create service %s: %v", name, err)
		}
	}
	apex := &corev1.Service{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, apex); err != nil {
		t.Fatal(err)
	}
	origApex := apex.DeepCopy()
	apex.Spec.Selector = map[string]string{"app": "podinfo-primary"}
	apex.OwnerReferences = owner
	if err := cl.Patch(ctx, apex, client.MergeFrom(origApex)); err != nil {
		t.Fatal(err)
	}

	split := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "podinfo", "namespace": ns},
		"spec": map[string]any{
			"service": "podinfo",
			"backends": []any{
				map[string]any{"service": "podinfo-primary", "weight": int64(100 - r.weight)},
				map[string]any{"service": "podinfo-canary", "weight": int64(r.weight)},
			},
		},
	}}
	split.SetGroupVersionKind(schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha2", Kind: "TrafficSplit"})
	if r.httpRoute {
		// A mesh (GAMMA) route: its parent is the apex Service.
		backend := func(name string, weight int) any {
			return map[string]any{"group": "", "kind": "Service", "name": name, "port": int64(9898), "weight": int64(weight)}
		}
		split = &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "podinfo", "namespace": ns},
			"spec": map[string]any{
				"parentRefs": []any{map[string]any{"group": "core", "kind": "Service", "name": "podinfo", "port": int64(9898)}},
				"rules": []any{map[string]any{
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
					"backendRefs": []any{backend("podinfo-primary", 100-r.weight), backend("podinfo-canary", r.weight)},
				}},
			},
		}}
		split.SetGroupVersionKind(httpRouteV1beta1GVK)
	}
	split.SetOwnerReferences(owner)
	if err := cl.Create(ctx, split); err != nil {
		t.Fatalf("create %s: %v", split.GetKind(), err)
	}

	cond := v1beta1.CanaryCondition{Type: v1beta1.PromotedCondition, Status: metav1.ConditionUnknown, Reason: "Progressing",
		Message: "New revision detected, progressing canary analysis.", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}
	if r.phase == v1beta1.PhaseSucceeded {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Succeeded", "Canary analysis completed successfully, promotion finished."
	}
	c.Status = v1beta1.CanaryStatus{
		Phase: r.phase, CanaryWeight: r.weight, LastAppliedSpec: r.applied, LastPromotedSpec: r.promoted,
		LastTransitionTime: metav1.Now(), TrackedConfigs: map[string]string{}, Conditions: []v1beta1.CanaryCondition{cond},
	}
	if err := cl.Status().Update(ctx, c); err != nil {
		t.Fatalf("write flagger status: %v", err)
	}
	waitDeploymentReady(t, cl, ns, "podinfo-primary")
	waitDeploymentReady(t, cl, ns, "podinfo")
	if err := cl.Get(ctx, client.ObjectKeyFromObject(primary), primary); err != nil {
		t.Fatal(err)
	}
	return primary
}

// TestAdoptFlaggerRelease swaps Flagger for serin on a cluster where
// Flagger left one release Progressing at canary weight 30 and another
// Succeeded, with the objects and status Flagger writes (Flagger's CRDs,
// its hash format in lastAppliedSpec). serin takes both over: the release
// in progress continues from weight 30 to its promotion, the Succeeded
// one stays put, and neither primary Deployment is recreated or rolled
// out before a promotion.
func TestAdoptFlaggerRelease(t *testing.T) {
	cluster := startFlaggerCluster(t)
	cl := cluster.Client()

	e := &env{cluster: cluster, cl: cl, ns: "adopt"}
	applyExample(t, cl, e.ns)
	primary := writeFlaggerState(t, cl, e.ns, flaggerRelease{phase: v1beta1.PhaseProgressing, weight: 30,
		applied: "7dc9f5b8b4", promoted: "5c79d9c6c8", targetImage: image171})

	done := "adopted-done"
	applyExample(t, cl, done)
	donePrimary := writeFlaggerState(t, cl, done, flaggerRelease{phase: v1beta1.PhaseSucceeded,
		applied: "6f8d2b9c4x", promoted: "6f8d2b9c4x", targetImage: image170, revert: true})

	weights := e.takeOver(t, trafficSplitWeights(cl, e.ns, "podinfo"), "linkerd")

	waitEvent(t, cl, e.ns, "podinfo", "Took over podinfo.adopt from Flagger's status (Progressing, canary weight 30)")
	waitEvent(t, cl, done, "podinfo", "Took over podinfo.adopted-done from Flagger's status (Succeeded, canary weight 0)")
	waitWeight(t, e, 40)
	// Up to here, nothing touched the primary: no new generation, no new
	// Deployment.
	checkUntouched(t, cl, primary)

	waitPhase(t, cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 2*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)
	weights.stopAt(t, 0)
	checkResumed(t, weights.seen(), 30, 100)
	c, err := getCanary(t.Context(), cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !workload.IsRevision(c.Status.LastAppliedSpec) || c.Status.LastPromotedSpec != c.Status.LastAppliedSpec {
		t.Errorf("after the promotion: lastAppliedSpec %q, lastPromotedSpec %q, want serin's revision in both", c.Status.LastAppliedSpec, c.Status.LastPromotedSpec)
	}

	// The Succeeded release was ticked all along (every 2s) and stayed put.
	d, err := getCanary(t.Context(), cl, done, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != v1beta1.PhaseSucceeded || d.Status.CanaryWeight != 0 ||
		!workload.IsRevision(d.Status.LastAppliedSpec) || d.Status.LastPromotedSpec != d.Status.LastAppliedSpec {
		t.Errorf("succeeded canary after the takeover: %+v, want Succeeded at weight 0 with serin's revision applied and promoted", d.Status)
	}
	checkUntouched(t, cl, donePrimary)
	if _, n, err := image(t.Context(), cl, done, "podinfo", "podinfod"); err != nil || n != 0 {
		t.Errorf("succeeded canary's target has %d replicas (%v), want 0", n, err)
	}
	msgs, err := eventsOf(t.Context(), cl, done, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(msgs, func(m string) bool { return strings.Contains(m, "New revision") || strings.Contains(m, "Initializ") }); i >= 0 {
		t.Errorf("succeeded canary got event %q, want no release and no initialization", msgs[i])
	}
	if !slices.Equal(d.Finalizers, []string{kube.FlaggerFinalizer}) {
		t.Errorf("succeeded canary's finalizers = %q, want Flagger's only", d.Finalizers)
	}

	// Deleting it (spec.revertOnDeletion) restores the target and removes
	// the finalizer Flagger added.
	if err := cl.Delete(t.Context(), (*flaggerv1beta1.Canary)(d)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the deleted canary gone", func(ctx context.Context) (bool, error) {
		_, err := getCanary(ctx, cl, done, "podinfo")
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if _, n, err := image(t.Context(), cl, done, "podinfo", "podinfod"); err != nil || n == 0 {
		t.Errorf("target after the deletion has %d replicas (%v), want it scaled up again", n, err)
	}
	apex := &corev1.Service{}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: done, Name: "podinfo"}, apex); err != nil || apex.Spec.Selector["app"] != "podinfo" {
		t.Errorf("apex service after the deletion selects %v (%v), want app=podinfo", apex.Spec.Selector, err)
	}
}

// TestAdoptFlaggerReleaseOnHTTPRoute swaps Flagger for serin where
// Flagger drove Linkerd through a Gateway API HTTPRoute (its
// gatewayapi:v1beta1 provider, as Flagger's Linkerd install sets it) and
// left a release Progressing at canary weight 30. serin, given the same
// provider, continues it from 30 on the same HTTPRoute to its promotion,
// without recreating the route or touching the primary before then.
func TestAdoptFlaggerReleaseOnHTTPRoute(t *testing.T) {
	cluster := startFlaggerCluster(t)
	cl := cluster.Client()
	e := &env{cluster: cluster, cl: cl, ns: "adopt-route"}
	applyExample(t, cl, e.ns)
	primary := writeFlaggerState(t, cl, e.ns, flaggerRelease{phase: v1beta1.PhaseProgressing, weight: 30,
		applied: "7dc9f5b8b4", promoted: "5c79d9c6c8", targetImage: image171, httpRoute: true})
	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(httpRouteV1beta1GVK)
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "podinfo"}, route); err != nil {
		t.Fatal(err)
	}

	weights := e.takeOver(t, httpRouteWeights(cl, e.ns, "podinfo"), "gatewayapi:v1beta1")

	waitEvent(t, cl, e.ns, "podinfo", "Took over podinfo.adopt-route from Flagger's status (Progressing, canary weight 30)")
	waitWeight(t, e, 40)
	checkUntouched(t, cl, primary)
	waitPhase(t, cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 2*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)
	weights.stopAt(t, 0)
	checkResumed(t, weights.seen(), 30, 100)

	now := &unstructured.Unstructured{}
	now.SetGroupVersionKind(route.GroupVersionKind())
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "podinfo"}, now); err != nil {
		t.Fatal(err)
	}
	if now.GetUID() != route.GetUID() {
		t.Errorf("the HTTPRoute was recreated (uid %s, Flagger's %s), want it taken over", now.GetUID(), route.GetUID())
	}
	if refs := now.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != route.GetOwnerReferences()[0].UID {
		t.Errorf("the HTTPRoute's owners are %+v, want the Canary alone", refs)
	}
}

// takeOver starts the mesh on route, a Prometheus scraping it and, once
// Prometheus has the canary's traffic (as it would on a cluster Flagger
// ran: the analysis's first check reads the last 10s), the controller with
// provider. It returns the recorder of the route's weights from then on.
func (e *env) takeOver(t *testing.T, route func(ctx context.Context) (int, int, error), provider string) *recorder[int] {
	t.Helper()
	e.route = route
	e.mesh = startMesh(t, e.ns, "podinfo", e.route)
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr}, time.Second)
	testenv.Eventually(t, time.Minute, "canary traffic in Prometheus", func(ctx context.Context) (bool, error) {
		b, err := e.prom.Query(ctx, fmt.Sprintf(`sum(response_total{namespace=%q,deployment="podinfo"})`, e.ns))
		return err == nil && strings.Contains(string(b), `"value"`), err
	})
	weights := recordWeights(t, e.route)
	e.opts = kube.Options{MeshProvider: provider, MetricsServer: e.prom.URL}
	e.ctrl = startController(t, e.cluster.RESTConfig(), e.opts)
	return weights
}

// checkUntouched checks the primary Deployment p is the same object at
// the same generation: it was neither recreated nor rolled out.
func checkUntouched(t *testing.T, cl client.Client, p *appsv1.Deployment) {
	t.Helper()
	cur := &appsv1.Deployment{}
	if err := cl.Get(t.Context(), types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, cur); err != nil {
		t.Fatal(err)
	}
	if cur.UID != p.UID || cur.Generation != p.Generation {
		t.Errorf("%s/%s: uid %s generation %d, want %s at %d (untouched)", p.Namespace, p.Name, cur.UID, cur.Generation, p.UID, p.Generation)
	}
}
