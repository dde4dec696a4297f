//go:build unix

package traffic_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
	"github.com/serinhq/serin/internal/traffic"
	"github.com/serinhq/serin/internal/traffic/smi/v1alpha1"
	"github.com/serinhq/serin/internal/traffic/smi/v1alpha2"
)

// countingClient counts the writes made through it.
type countingClient struct {
	client.WithWatch
	writes *atomic.Int64
}

func newCountingClient(t *testing.T, c *testenv.Cluster, scheme *runtime.Scheme) countingClient {
	t.Helper()
	cl, err := client.NewWithWatch(c.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	return countingClient{
		writes: &n,
		WithWatch: interceptor.NewClient(cl, interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				n.Add(1)
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				n.Add(1)
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
				n.Add(1)
				return c.Patch(ctx, obj, p, opts...)
			},
		}),
	}
}

// TestRoutersOnCluster drives every router against a real API server with
// the SMI and Gateway API CRDs installed.
func TestRoutersOnCluster(t *testing.T) {
	crds := filepath.Join("..", "..", "deploy", "crds")
	c := testenv.Start(t, testenv.Options{CRDs: []string{crds, filepath.Join(crds, "thirdparty")}})
	scheme := c.Scheme()
	if err := traffic.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl := newCountingClient(t, c, scheme)

	t.Run("smi:v1alpha1", func(t *testing.T) {
		testWeights(t, c, cl, "smi:v1alpha1", func(ctx context.Context, key client.ObjectKey) (client.Object, [2]int64, error) {
			var ts v1alpha1.TrafficSplit
			err := cl.Get(ctx, key, &ts)
			return &ts, v1alpha1Weights(t, &ts), err
		})
	})
	t.Run("smi:v1alpha2", func(t *testing.T) {
		testWeights(t, c, cl, "smi:v1alpha2", func(ctx context.Context, key client.ObjectKey) (client.Object, [2]int64, error) {
			var ts v1alpha2.TrafficSplit
			err := cl.Get(ctx, key, &ts)
			var w [2]int64
			if err == nil {
				if len(ts.Spec.Backends) != 2 {
					t.Fatalf("backends = %+v, want two", ts.Spec.Backends)
				}
				checkBackends(t, ts.Spec.Service, key.Name, []string{ts.Spec.Backends[0].Service, ts.Spec.Backends[1].Service})
				w = [2]int64{int64(ts.Spec.Backends[0].Weight), int64(ts.Spec.Backends[1].Weight)}
			}
			return &ts, w, err
		})
	})
	t.Run("smi:v1alpha3", func(t *testing.T) {
		testWeights(t, c, cl, "smi:v1alpha3", func(ctx context.Context, key client.ObjectKey) (client.Object, [2]int64, error) {
			ts := &unstructured.Unstructured{}
			ts.SetAPIVersion("split.smi-spec.io/v1alpha3")
			ts.SetKind("TrafficSplit")
			var w [2]int64
			err := cl.Get(ctx, key, ts)
			if err == nil {
				service, _, _ := unstructured.NestedString(ts.Object, "spec", "service")
				backends, _, _ := unstructured.NestedSlice(ts.Object, "spec", "backends")
				if len(backends) != 2 {
					t.Fatalf("backends = %+v, want two", backends)
				}
				var names []string
				for i, b := range backends {
					m := b.(map[string]any)
					names = append(names, m["service"].(string))
					w[i] = m["weight"].(int64)
				}
				checkBackends(t, service, key.Name, names)
			}
			return ts, w, err
		})
	})
	t.Run("gatewayapi:v1", func(t *testing.T) {
		testWeights(t, c, cl, "gatewayapi:v1", func(ctx context.Context, key client.ObjectKey) (client.Object, [2]int64, error) {
			var hr gatewayv1.HTTPRoute
			err := cl.Get(ctx, key, &hr)
			if err != nil {
				return &hr, [2]int64{}, err
			}
			return &hr, meshRouteWeights(t, key, hr.Spec), nil
		})
	})
	t.Run("gatewayapi:v1beta1", func(t *testing.T) {
		testWeights(t, c, cl, "gatewayapi:v1beta1", func(ctx context.Context, key client.ObjectKey) (client.Object, [2]int64, error) {
			var hr gatewayv1beta1.HTTPRoute
			err := cl.Get(ctx, key, &hr)
			if err != nil {
				return &hr, [2]int64{}, err
			}
			return &hr, meshRouteWeights(t, key, hr.Spec), nil
		})
	})
	t.Run("smi:v1alpha1 takes over a Flagger TrafficSplit", func(t *testing.T) {
		ns := c.CreateNamespace(t, "takeover")
		canary := createCanary(t, c, ns)
		old := &v1alpha1.TrafficSplit{
			ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: "podinfo", UID: "0b1f8f6e-1111-2222-3333-444455556666",
				Controller: ptr.To(true),
			}}},
			Spec: v1alpha1.TrafficSplitSpec{Service: "podinfo", Backends: []v1alpha1.TrafficSplitBackend{
				{Service: "podinfo-canary", Weight: resource.MustParse("0")},
				{Service: "podinfo-primary", Weight: resource.MustParse("100")},
			}},
		}
		if err := cl.Create(t.Context(), old); err != nil {
			t.Fatal(err)
		}
		setRoutes(t, cl, "linkerd", canary, rollout.Routes{PrimaryWeight: 100})
		var ts v1alpha1.TrafficSplit
		if err := cl.Get(t.Context(), client.ObjectKeyFromObject(old), &ts); err != nil {
			t.Fatal(err)
		}
		checkOwner(t, &ts, canary)
		if w := v1alpha1Weights(t, &ts); w != [2]int64{100, 0} {
			t.Errorf("weights (primary, canary) = %v, want [100 0]", w)
		}
	})
	t.Run("gatewayapi:v1 A/B and session affinity", func(t *testing.T) {
		ns := c.CreateNamespace(t, "ab")
		canary := createCanary(t, c, ns)
		routes := rollout.Routes{
			PrimaryWeight: 80, CanaryWeight: 20,
			Match: []v1beta1.HTTPMatchRequest{{Headers: map[string]v1beta1.StringMatch{
				"x-canary":   {Exact: "insider"},
				"user-agent": {Prefix: "Mozilla"},
			}}},
			SessionAffinity: &v1beta1.SessionAffinity{CookieName: "serin-canary", MaxAge: 60},
			Cookie:          "serin-canary=abc123",
			Mirror:          true, MirrorWeight: 50,
		}
		setRoutes(t, cl, "gatewayapi", canary, routes)
		before := cl.writes.Load()
		setRoutes(t, cl, "gatewayapi", canary, routes)
		if n := cl.writes.Load() - before; n != 0 {
			t.Errorf("second SetRoutes made %d writes, want 0", n)
		}
		var hr gatewayv1.HTTPRoute
		if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, &hr); err != nil {
			t.Fatal(err)
		}
		rules := hr.Spec.Rules
		if len(rules) != 3 {
			t.Fatalf("got %d rules, want 3 (A/B, sticky, weighted): %+v", len(rules), rules)
		}
		h := rules[0].Matches[0].Headers
		if len(h) != 2 || h[0].Name != "user-agent" || *h[0].Type != gatewayv1.HeaderMatchRegularExpression || h[0].Value != "^Mozilla.*" ||
			h[1].Name != "x-canary" || *h[1].Type != gatewayv1.HeaderMatchExact || h[1].Value != "insider" {
			t.Errorf("A/B header matches = %+v", h)
		}
		if b := rules[0].BackendRefs; len(b) != 1 || b[0].Name != "podinfo-canary" {
			t.Errorf("A/B backends = %+v, want the canary only", b)
		}
		if h := rules[1].Matches[0].Headers; len(h) != 1 || h[0].Name != "Cookie" || h[0].Value != `.*serin-canary=abc123.*` {
			t.Errorf("sticky rule headers = %+v", h)
		}
		f := rules[2].BackendRefs[1].Filters
		if len(f) != 1 || f[0].ResponseHeaderModifier == nil || f[0].ResponseHeaderModifier.Add[0].Value != "serin-canary=abc123; Max-Age=60; Path=/" {
			t.Errorf("canary backend filters = %+v, want a Set-Cookie", f)
		}
		if f := rules[2].Filters; len(f) != 1 || f[0].RequestMirror == nil || ptr.Deref(f[0].RequestMirror.Percent, 0) != 50 {
			t.Errorf("weighted rule filters = %+v, want a 50%% mirror to the canary", f)
		}

		// Back to the primary: the A/B rule stays only while matches are set.
		setRoutes(t, cl, "gatewayapi", canary, rollout.Routes{PrimaryWeight: 100})
		if err := cl.Get(t.Context(), client.ObjectKeyFromObject(&hr), &hr); err != nil {
			t.Fatal(err)
		}
		if len(hr.Spec.Rules) != 1 || *hr.Spec.Rules[0].BackendRefs[0].Weight != 100 || len(hr.Spec.Rules[0].Filters) != 0 {
			t.Errorf("rules after reset = %+v, want one weighted rule, all to the primary", hr.Spec.Rules)
		}
	})
	t.Run("gatewayapi:v1 Flagger's service fields", func(t *testing.T) {
		ns := c.CreateNamespace(t, "svcfields")
		canary := createCanary(t, c, ns)
		canary.Spec.Service.Timeout, canary.Spec.Service.BackendTimeout = "30s", "10s"
		canary.Spec.Service.Mirror = []v1beta1.ServiceMirror{{BackendRef: v1beta1.MirrorBackendRef{Name: "podinfo-primary", Port: ptr.To[int32](9898)}}}
		sa := &v1beta1.SessionAffinity{CookieName: "flagger-cookie", MaxAge: 60, Path: "/app", HTTPOnly: true, Secure: true, SameSite: "Lax"}
		routes := rollout.Routes{PrimaryWeight: 80, CanaryWeight: 20, SessionAffinity: sa, Cookie: "flagger-cookie=abc"}
		setRoutes(t, cl, "gatewayapi", canary, routes)
		before := cl.writes.Load()
		setRoutes(t, cl, "gatewayapi", canary, routes)
		if n := cl.writes.Load() - before; n != 0 {
			t.Errorf("second SetRoutes made %d writes, want 0: the route as stored differs from the one asked for", n)
		}
		var hr gatewayv1.HTTPRoute
		if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, &hr); err != nil {
			t.Fatal(err)
		}
		for i, r := range hr.Spec.Rules {
			if r.Timeouts == nil || ptr.Deref(r.Timeouts.Request, "") != "30s" || ptr.Deref(r.Timeouts.BackendRequest, "") != "10s" {
				t.Errorf("rule %d timeouts = %+v, want request 30s, backendRequest 10s", i, r.Timeouts)
			}
			if f := r.Filters; len(f) != 1 || f[0].RequestMirror == nil || f[0].RequestMirror.BackendRef.Name != "podinfo-primary" {
				t.Errorf("rule %d filters = %+v, want a mirror to podinfo-primary", i, f)
			}
		}
		f := hr.Spec.Rules[len(hr.Spec.Rules)-1].BackendRefs[1].Filters
		if want := "flagger-cookie=abc; Max-Age=60; Path=/app; HttpOnly; Secure; SameSite=Lax"; len(f) != 1 || f[0].ResponseHeaderModifier.Add[0].Value != want {
			t.Errorf("canary backend filters = %+v, want Set-Cookie %q", f, want)
		}
	})
	t.Run("smi rejects request matches", func(t *testing.T) {
		ns := c.CreateNamespace(t, "smi-ab")
		canary := createCanary(t, c, ns)
		r, err := traffic.ForProvider("linkerd", cl)
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetRoutes(t.Context(), canary, rollout.Routes{PrimaryWeight: 100, Match: []v1beta1.HTTPMatchRequest{{Headers: map[string]v1beta1.StringMatch{"x": {Exact: "y"}}}}})
		if err == nil {
			t.Fatal("SetRoutes with matches succeeded on SMI")
		}
	})
}

// testWeights creates a Canary, sets its routes twice, checks that the
// second call writes nothing, changes the weights, and checks that the
// route goes with the Canary when it is deleted.
func testWeights(t *testing.T, c *testenv.Cluster, cl countingClient, provider string,
	read func(context.Context, client.ObjectKey) (client.Object, [2]int64, error)) {
	ctx := t.Context()
	ns := c.CreateNamespace(t, "route")
	canary := createCanary(t, c, ns)
	key := client.ObjectKey{Namespace: ns, Name: "podinfo"}

	setRoutes(t, cl, provider, canary, rollout.Routes{PrimaryWeight: 90, CanaryWeight: 10})
	obj, w, err := read(ctx, key)
	if err != nil {
		t.Fatalf("read route: %v", err)
	}
	if w != [2]int64{90, 10} {
		t.Errorf("weights (primary, canary) = %v, want [90 10]", w)
	}
	checkOwner(t, obj, canary)
	rv := obj.GetResourceVersion()

	before := cl.writes.Load()
	setRoutes(t, cl, provider, canary, rollout.Routes{PrimaryWeight: 90, CanaryWeight: 10})
	if n := cl.writes.Load() - before; n != 0 {
		t.Errorf("second SetRoutes made %d writes, want 0", n)
	}
	obj, _, err = read(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.GetResourceVersion(); got != rv {
		t.Errorf("resourceVersion changed from %s to %s on an idempotent SetRoutes", rv, got)
	}

	setRoutes(t, cl, provider, canary, rollout.Routes{PrimaryWeight: 40, CanaryWeight: 60})
	if _, w, err = read(ctx, key); err != nil || w != [2]int64{40, 60} {
		t.Errorf("weights after the step = %v (err %v), want [40 60]", w, err)
	}

	// The garbage collector deletes the route with its Canary.
	if err := cl.Delete(ctx, canary, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, _, err := read(ctx, key)
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("route not garbage-collected after the Canary's deletion: %v", err)
	}
}

func createCanary(t *testing.T, c *testenv.Cluster, ns string) *v1beta1.Canary {
	t.Helper()
	canary := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
	if err := c.Client().Create(t.Context(), canary); err != nil {
		t.Fatalf("create canary: %v", err)
	}
	// The Services the routes point at, as the controller creates them.
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 9898}},
			},
		}
		if err := c.Client().Create(t.Context(), svc); err != nil {
			t.Fatalf("create service: %v", err)
		}
	}
	return canary
}

func setRoutes(t *testing.T, cl client.Client, provider string, c *v1beta1.Canary, r rollout.Routes) {
	t.Helper()
	var router engine.Router
	router, err := traffic.ForProvider(provider, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := router.SetRoutes(t.Context(), c, r); err != nil {
		t.Fatalf("SetRoutes(%+v): %v", r, err)
	}
}

func checkOwner(t *testing.T, obj client.Object, c *v1beta1.Canary) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != c.UID || refs[0].Kind != "Canary" ||
		refs[0].APIVersion != "serin.dev/v1beta1" || !ptr.Deref(refs[0].Controller, false) {
		t.Errorf("owner references = %+v, want the Canary %s as controller", refs, c.UID)
	}
}

func checkBackends(t *testing.T, service, apex string, backends []string) {
	t.Helper()
	if service != apex || backends[0] != apex+"-primary" || backends[1] != apex+"-canary" {
		t.Errorf("service %s, backends %v; want %s, [%s-primary %s-canary]", service, backends, apex, apex, apex)
	}
}

func v1alpha1Weights(t *testing.T, ts *v1alpha1.TrafficSplit) [2]int64 {
	t.Helper()
	if len(ts.Spec.Backends) != 2 {
		return [2]int64{-1, -1}
	}
	checkBackends(t, ts.Spec.Service, ts.Name, []string{ts.Spec.Backends[0].Service, ts.Spec.Backends[1].Service})
	return [2]int64{ts.Spec.Backends[0].Weight.Value(), ts.Spec.Backends[1].Weight.Value()}
}

// meshRouteWeights checks that spec is the mesh route of the apex Service
// key on port 9898, one rule with the primary and canary backends, and
// returns their weights.
func meshRouteWeights(t *testing.T, key client.ObjectKey, spec gatewayv1.HTTPRouteSpec) [2]int64 {
	t.Helper()
	if len(spec.Rules) != 1 || len(spec.Rules[0].BackendRefs) != 2 {
		t.Fatalf("rules = %+v, want one rule with two backends", spec.Rules)
	}
	pr := spec.ParentRefs
	if len(pr) != 1 || ptr.Deref(pr[0].Kind, "") != "Service" || ptr.Deref(pr[0].Group, "") != "core" ||
		string(pr[0].Name) != key.Name || ptr.Deref(pr[0].Port, 0) != 9898 {
		t.Errorf("parentRefs = %+v, want the apex Service on port 9898", pr)
	}
	b := spec.Rules[0].BackendRefs
	checkBackends(t, key.Name, key.Name, []string{string(b[0].Name), string(b[1].Name)})
	return [2]int64{int64(*b[0].Weight), int64(*b[1].Weight)}
}
