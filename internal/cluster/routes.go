package cluster

import (
	"context"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Route is a traffic split: an SMI TrafficSplit, a Gateway API HTTPRoute
// or, locally, a Service of serin's proxy.
type Route struct {
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Backends  []Backend `json:"backends"`
}

// Backend is a Service (locally a Deployment) and its weight.
type Backend struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// routeKinds are the route kinds listed, each at the first version the
// cluster serves.
var routeKinds = []struct {
	kind, resource string
	versions       []schema.GroupVersion
	backends       func(u *unstructured.Unstructured) []Backend
}{
	{"TrafficSplit", "trafficsplits.split.smi-spec.io",
		[]schema.GroupVersion{{Group: "split.smi-spec.io", Version: "v1alpha1"}, {Group: "split.smi-spec.io", Version: "v1alpha2"}},
		func(u *unstructured.Unstructured) []Backend {
			bs, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
			return backendsOf(bs, "service")
		}},
	{"HTTPRoute", "httproutes.gateway.networking.k8s.io",
		[]schema.GroupVersion{{Group: "gateway.networking.k8s.io", Version: "v1"}, {Group: "gateway.networking.k8s.io", Version: "v1beta1"}},
		func(u *unstructured.Unstructured) []Backend {
			// The last rule is the default route; the rules before it
			// match headers (A/B).
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
			if len(rules) == 0 {
				return nil
			}
			rule, _ := rules[len(rules)-1].(map[string]any)
			refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
			return backendsOf(refs, "name")
		}},
}

// Routes lists the TrafficSplits and HTTPRoutes in ns (every namespace
// when empty); a kind whose CRD is not installed has none.
func (c *Client) Routes(ctx context.Context, ns string) ([]Route, error) {
	var out []Route
	for _, rk := range routeKinds {
		for _, gv := range rk.versions {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gv.WithKind(rk.kind + "List"))
			err := c.cl.List(ctx, list, client.InNamespace(ns))
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, access(err, "list", rk.resource, ns)
			}
			for i := range list.Items {
				u := &list.Items[i]
				out = append(out, Route{Kind: rk.kind, Namespace: u.GetNamespace(), Name: u.GetName(), Backends: rk.backends(u)})
			}
			break
		}
	}
	slices.SortStableFunc(out, func(a, b Route) int {
		return strings.Compare(a.Namespace+"/"+a.Name+"/"+a.Kind, b.Namespace+"/"+b.Name+"/"+b.Kind)
	})
	return out, nil
}

func backendsOf(items []any, nameField string) []Backend {
	var out []Backend
	for _, it := range items {
		m, _ := it.(map[string]any)
		name, _ := m[nameField].(string)
		out = append(out, Backend{Name: name, Weight: weightOf(m["weight"])})
	}
	return out
}

// weightOf reads a weight: an integer, or a quantity such as "90" or
// "900m" (TrafficSplit v1alpha1).
func weightOf(v any) int {
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
