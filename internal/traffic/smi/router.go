package smi

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/traffic/internal/kubeobj"
	"github.com/serinhq/serin/internal/traffic/smi/v1alpha1"
	"github.com/serinhq/serin/internal/traffic/smi/v1alpha2"
)

// Version is a version of the split.smi-spec.io API.
type Version string

// The TrafficSplit versions the router writes.
const (
	// V1Alpha1 has quantity weights; Linkerd 2.10 stores it.
	V1Alpha1 Version = "v1alpha1"
	// V1Alpha2 has integer weights.
	V1Alpha2 Version = "v1alpha2"
	// V1Alpha3 has integer weights too (Open Service Mesh serves it, and
	// Flagger's smi:v1alpha3 provider writes it). The router writes it
	// as an unstructured object: its spec is v1alpha2's.
	V1Alpha3 Version = "v1alpha3"
)

// v1alpha3Kind is the kind the V1Alpha3 router writes.
func v1alpha3Kind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: v1alpha2.GroupVersion.Group, Version: string(V1Alpha3), Kind: "TrafficSplit"}
}

// ErrMatchUnsupported is returned for routes with request matches (A/B
// testing), which a TrafficSplit of these versions cannot express.
var ErrMatchUnsupported = errors.New("smi: a TrafficSplit cannot route by request matches (A/B testing); use the gatewayapi:v1 provider")

// Router sets a Canary's weights in the TrafficSplit named after its apex
// Service.
type Router struct {
	client  client.Client
	version Version
}

var _ engine.Router = (*Router)(nil)

// AddToScheme registers both TrafficSplit versions with s.
func AddToScheme(s *runtime.Scheme) error {
	if err := v1alpha1.AddToScheme(s); err != nil {
		return err
	}
	return v1alpha2.AddToScheme(s)
}

// NewRouter returns a router that writes TrafficSplits of version v
// through cl, whose scheme must know that version (see AddToScheme).
func NewRouter(cl client.Client, v Version) (*Router, error) {
	var gv schema.GroupVersion
	switch v {
	case V1Alpha1:
		gv = v1alpha1.GroupVersion
	case V1Alpha2:
		gv = v1alpha2.GroupVersion
	case V1Alpha3:
		return &Router{client: cl, version: v}, nil
	default:
		return nil, fmt.Errorf("smi: unknown TrafficSplit version %q: want %q, %q or %q", v, V1Alpha1, V1Alpha2, V1Alpha3)
	}
	if gvk := gv.WithKind("TrafficSplit"); !cl.Scheme().Recognizes(gvk) {
		return nil, fmt.Errorf("smi: the client's scheme does not know %s; register it with smi.AddToScheme", gvk)
	}
	return &Router{client: cl, version: v}, nil
}

// Version returns the TrafficSplit version the router writes.
func (r *Router) Version() Version { return r.version }

// SetRoutes makes the TrafficSplit <apex> in the Canary's namespace send
// r.PrimaryWeight to <apex>-primary and r.CanaryWeight to <apex>-canary,
// creating it if needed, owned by the Canary. It writes nothing when the
// split already matches. Mirroring and session affinity have no
// TrafficSplit form and are left out; request matches are an error
// (ErrMatchUnsupported).
func (r *Router) SetRoutes(ctx context.Context, c *v1beta1.Canary, routes rollout.Routes) error {
	if len(routes.Match) > 0 {
		return ErrMatchUnsupported
	}
	if routes.PrimaryWeight < 0 || routes.CanaryWeight < 0 {
		return fmt.Errorf("smi: weights must not be negative, got primary %d and canary %d", routes.PrimaryWeight, routes.CanaryWeight)
	}
	apex := c.ServiceName()
	primary, canary := apex+"-primary", apex+"-canary"
	var (
		obj    client.Object
		mutate func() error
	)
	switch r.version {
	case V1Alpha1:
		ts := &v1alpha1.TrafficSplit{}
		obj, mutate = ts, func() error {
			ts.Spec.Service = apex
			ts.Spec.Backends = setBackends(ts.Spec.Backends,
				[]v1alpha1.TrafficSplitBackend{
					{Service: primary, Weight: *resource.NewQuantity(int64(routes.PrimaryWeight), resource.DecimalSI)},
					{Service: canary, Weight: *resource.NewQuantity(int64(routes.CanaryWeight), resource.DecimalSI)},
				},
				sameQuantityBackend)
			return nil
		}
	case V1Alpha2:
		ts := &v1alpha2.TrafficSplit{}
		obj, mutate = ts, func() error {
			ts.Spec.Service = apex
			ts.Spec.Backends = setBackends(ts.Spec.Backends,
				[]v1alpha2.TrafficSplitBackend{
					{Service: primary, Weight: routes.PrimaryWeight},
					{Service: canary, Weight: routes.CanaryWeight},
				},
				func(a, b v1alpha2.TrafficSplitBackend) bool { return a == b })
			return nil
		}
	case V1Alpha3:
		ts := &unstructured.Unstructured{}
		ts.SetGroupVersionKind(v1alpha3Kind())
		obj, mutate = ts, func() error {
			backends := []any{
				map[string]any{"service": primary, "weight": int64(routes.PrimaryWeight)},
				map[string]any{"service": canary, "weight": int64(routes.CanaryWeight)},
			}
			if err := unstructured.SetNestedField(ts.Object, apex, "spec", "service"); err != nil {
				return err
			}
			return unstructured.SetNestedSlice(ts.Object, backends, "spec", "backends")
		}
	}
	obj.SetNamespace(c.Namespace)
	obj.SetName(apex)
	if _, err := kubeobj.Apply(ctx, r.client, c, obj, mutate); err != nil {
		return fmt.Errorf("smi: set TrafficSplit %s/%s (%s) to primary %d, canary %d: %w",
			c.Namespace, apex, r.version, routes.PrimaryWeight, routes.CanaryWeight, err)
	}
	return nil
}

// setBackends returns cur when it already equals want (so that a weight
// written as "900m" stays as it is when it means the same), want otherwise.
func setBackends[B any](cur, want []B, equal func(a, b B) bool) []B {
	if len(cur) != len(want) {
		return want
	}
	for i := range cur {
		if !equal(cur[i], want[i]) {
			return want
		}
	}
	return cur
}

// sameQuantityBackend compares v1alpha1 backends by the value of their
// weights, so that "900m" and "9" mean the same as 0.9 and 9.
func sameQuantityBackend(a, b v1alpha1.TrafficSplitBackend) bool {
	return a.Service == b.Service && a.Weight.Cmp(b.Weight) == 0
}
