package gatewayapi

import (
	"context"
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/traffic/internal/kubeobj"
)

// Router sets a Canary's routes in the HTTPRoute named after its apex
// Service.
type Router struct {
	client  client.Client
	version Version
}

var _ engine.Router = (*Router)(nil)

// Version is the gateway.networking.k8s.io version of the HTTPRoutes a
// router writes. Both have the same spec; v1beta1 is what Linkerd 2.14's
// own Gateway API CRDs and Flagger's gatewayapi:v1beta1 provider use.
type Version string

// The HTTPRoute versions the router writes.
const (
	V1      Version = "v1"
	V1Beta1 Version = "v1beta1"
)

// AddToScheme registers the gateway.networking.k8s.io/v1 and v1beta1
// kinds with s.
func AddToScheme(s *runtime.Scheme) error {
	if err := gatewayv1.Install(s); err != nil {
		return err
	}
	return gatewayv1beta1.Install(s)
}

// NewRouter returns a router that writes HTTPRoutes of version v through
// cl, whose scheme must know that version (see AddToScheme).
func NewRouter(cl client.Client, v Version) (*Router, error) {
	var gvk schema.GroupVersionKind
	switch v {
	case V1:
		gvk = gatewayv1.SchemeGroupVersion.WithKind("HTTPRoute")
	case V1Beta1:
		gvk = gatewayv1beta1.SchemeGroupVersion.WithKind("HTTPRoute")
	default:
		return nil, fmt.Errorf("gatewayapi: unknown HTTPRoute version %q: want %q or %q", v, V1, V1Beta1)
	}
	if !cl.Scheme().Recognizes(gvk) {
		return nil, fmt.Errorf("gatewayapi: the client's scheme does not know %s; register it with gatewayapi.AddToScheme", gvk)
	}
	return &Router{client: cl, version: v}, nil
}

// Version returns the HTTPRoute version the router writes.
func (r *Router) Version() Version { return r.version }

// SetRoutes makes the HTTPRoute <apex> in the Canary's namespace match r,
// creating it if needed, owned by the Canary. It writes nothing when the
// route already matches.
func (r *Router) SetRoutes(ctx context.Context, c *v1beta1.Canary, routes rollout.Routes) error {
	spec, err := Spec(c, routes)
	if err != nil {
		return err
	}
	apex := c.ServiceName()
	var route client.Object
	var setSpec func()
	if r.version == V1Beta1 {
		hr := &gatewayv1beta1.HTTPRoute{}
		route, setSpec = hr, func() { hr.Spec = spec }
	} else {
		hr := &gatewayv1.HTTPRoute{}
		route, setSpec = hr, func() { hr.Spec = spec }
	}
	route.SetNamespace(c.Namespace)
	route.SetName(apex)
	if _, err := kubeobj.Apply(ctx, r.client, c, route, func() error {
		setSpec()
		return nil
	}); err != nil {
		return fmt.Errorf("gatewayapi: set HTTPRoute %s/%s to primary %d, canary %d: %w",
			c.Namespace, apex, routes.PrimaryWeight, routes.CanaryWeight, err)
	}
	return nil
}

// Spec returns the HTTPRoute spec for c and r, with every field the API
// server would default set explicitly, so that it compares equal to the
// route read back. Its rules, in order:
//
//   - with r.Match (A/B testing), one rule whose matches are r.Match,
//     sending everything to the canary;
//   - with session affinity and a canary weight above zero, one rule that
//     sends requests carrying r.Cookie to the canary;
//   - the weighted rule for all other requests (path prefix "/"), with a
//     RequestMirror filter to the canary when r.Mirror is set; with
//     session affinity, the canary's responses set r.Cookie.
func Spec(c *v1beta1.Canary, r rollout.Routes) (gatewayv1.HTTPRouteSpec, error) {
	if r.PrimaryWeight < 0 || r.CanaryWeight < 0 {
		return gatewayv1.HTTPRouteSpec{}, fmt.Errorf("gatewayapi: weights must not be negative, got primary %d and canary %d", r.PrimaryWeight, r.CanaryWeight)
	}
	apex := c.ServiceName()
	primary, canary := apex+"-primary", apex+"-canary"
	port := c.Spec.Service.Port

	spec := gatewayv1.HTTPRouteSpec{
		CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parentRefs(c)},
	}
	if len(c.Spec.Service.GatewayRefs) > 0 {
		for _, h := range c.Spec.Service.Hosts {
			spec.Hostnames = append(spec.Hostnames, gatewayv1.Hostname(h))
		}
	}
	var timeouts *gatewayv1.HTTPRouteTimeouts
	if t := c.Spec.Service.Timeout; t != "" {
		timeouts = &gatewayv1.HTTPRouteTimeouts{Request: ptr.To(gatewayv1.Duration(t))}
	}
	if t := c.Spec.Service.BackendTimeout; t != "" {
		if timeouts == nil {
			timeouts = &gatewayv1.HTTPRouteTimeouts{}
		}
		timeouts.BackendRequest = ptr.To(gatewayv1.Duration(t))
	}
	mirrors := serviceMirrors(c)

	if len(r.Match) > 0 {
		matches, err := Matches(r.Match)
		if err != nil {
			return gatewayv1.HTTPRouteSpec{}, err
		}
		spec.Rules = append(spec.Rules, gatewayv1.HTTPRouteRule{
			Matches:     matches,
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: backendRef(canary, port, 100)}},
			Timeouts:    timeouts,
			Filters:     mirrors,
		})
	}

	sticky := r.SessionAffinity != nil && r.Cookie != "" && r.CanaryWeight > 0
	if sticky {
		spec.Rules = append(spec.Rules, gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{
				Path: rootPath(),
				Headers: []gatewayv1.HTTPHeaderMatch{{
					Type:  ptr.To(gatewayv1.HeaderMatchRegularExpression),
					Name:  "Cookie",
					Value: ".*" + regexp.QuoteMeta(r.Cookie) + ".*",
				}},
			}},
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: backendRef(canary, port, 100)}},
			Timeouts:    timeouts,
			Filters:     mirrors,
		})
	}

	weighted := gatewayv1.HTTPRouteRule{
		Matches: []gatewayv1.HTTPRouteMatch{{Path: rootPath()}},
		BackendRefs: []gatewayv1.HTTPBackendRef{
			{BackendRef: backendRef(primary, port, r.PrimaryWeight)},
			{BackendRef: backendRef(canary, port, r.CanaryWeight)},
		},
		Timeouts: timeouts,
	}
	if sticky {
		weighted.BackendRefs[1].Filters = []gatewayv1.HTTPRouteFilter{{
			Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier,
			ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{
				Add: []gatewayv1.HTTPHeader{{Name: "Set-Cookie", Value: r.Cookie + r.SessionAffinity.CookieAttributes()}},
			},
		}}
	}
	if r.Mirror {
		mirror := &gatewayv1.HTTPRequestMirrorFilter{BackendRef: backendRef(canary, port, 0).BackendObjectReference}
		if r.MirrorWeight > 0 && r.MirrorWeight < 100 {
			mirror.Percent = ptr.To(int32(r.MirrorWeight))
		}
		weighted.Filters = []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: mirror}}
	}
	weighted.Filters = append(weighted.Filters, mirrors...)
	spec.Rules = append(spec.Rules, weighted)
	return spec, nil
}

// serviceMirrors returns a RequestMirror filter for each of
// spec.service.mirror, with the defaults the API server would set.
func serviceMirrors(c *v1beta1.Canary) []gatewayv1.HTTPRouteFilter {
	var out []gatewayv1.HTTPRouteFilter
	for _, m := range c.Spec.Service.Mirror {
		ref := gatewayv1.BackendObjectReference{
			Group: ptr.To(gatewayv1.Group("")),
			Kind:  ptr.To(gatewayv1.Kind("Service")),
			Name:  gatewayv1.ObjectName(m.BackendRef.Name),
			Port:  m.BackendRef.Port,
		}
		if g := m.BackendRef.Group; g != nil {
			ref.Group = ptr.To(gatewayv1.Group(*g))
		}
		if k := m.BackendRef.Kind; k != nil {
			ref.Kind = ptr.To(gatewayv1.Kind(*k))
		}
		if ns := m.BackendRef.Namespace; ns != nil {
			ref.Namespace = ptr.To(gatewayv1.Namespace(*ns))
		}
		out = append(out, gatewayv1.HTTPRouteFilter{
			Type:          gatewayv1.HTTPRouteFilterRequestMirror,
			RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: ref},
		})
	}
	return out
}

// parentRefs returns the Canary's gateway references, or, for a mesh
// (east-west) route, the apex Service on the Canary's port.
func parentRefs(c *v1beta1.Canary) []gatewayv1.ParentReference {
	if len(c.Spec.Service.GatewayRefs) == 0 {
		return []gatewayv1.ParentReference{{
			Group: ptr.To(gatewayv1.Group("core")),
			Kind:  ptr.To(gatewayv1.Kind("Service")),
			Name:  gatewayv1.ObjectName(c.ServiceName()),
			Port:  ptr.To(c.Spec.Service.Port),
		}}
	}
	refs := make([]gatewayv1.ParentReference, 0, len(c.Spec.Service.GatewayRefs))
	for _, g := range c.Spec.Service.GatewayRefs {
		ref := gatewayv1.ParentReference{
			Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)),
			Kind:  ptr.To(gatewayv1.Kind("Gateway")),
			Name:  gatewayv1.ObjectName(g.Name),
			Port:  g.Port,
		}
		if g.Group != nil {
			ref.Group = ptr.To(gatewayv1.Group(*g.Group))
		}
		if g.Kind != nil {
			ref.Kind = ptr.To(gatewayv1.Kind(*g.Kind))
		}
		if g.Namespace != nil {
			ref.Namespace = ptr.To(gatewayv1.Namespace(*g.Namespace))
		}
		if g.SectionName != nil {
			ref.SectionName = ptr.To(gatewayv1.SectionName(*g.SectionName))
		}
		refs = append(refs, ref)
	}
	return refs
}

// backendRef refers to a Service's port with a weight.
func backendRef(name string, port int32, weight int) gatewayv1.BackendRef {
	return gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{
			Group: ptr.To(gatewayv1.Group("")),
			Kind:  ptr.To(gatewayv1.Kind("Service")),
			Name:  gatewayv1.ObjectName(name),
			Port:  ptr.To(port),
		},
		Weight: ptr.To(int32(weight)),
	}
}

// rootPath matches every path, as the API server's default.
func rootPath() *gatewayv1.HTTPPathMatch {
	return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/")}
}
