package local

import (
	"context"
	"fmt"
	"slices"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// Route is one Service port as a proxy listener on the loopback.
type Route struct {
	// Name is namespace/service:port.
	Name      string
	Namespace string
	Service   string
	// Port the listener takes on 127.0.0.1.
	Port int32
	// Backends are the Deployments the Service selects, each weighted by
	// its ready pods, when no Canary splits the Service.
	Backends []Backend
	// Canary is set when a Canary splits the Service's traffic.
	Canary *CanaryRoute
}

// Backend is a Deployment's ready pods.
type Backend struct {
	Name       string
	Namespace  string
	Deployment string
	Weight     int
	Endpoints  []string
}

// CanaryRoute is the traffic split of a Canary between its primary and
// its canary.
type CanaryRoute struct {
	Canary  *v1beta1.Canary
	Routes  rollout.Routes
	Primary Backend
	Target  Backend
}

// DataPlane is the proxy that carries the Services' traffic.
type DataPlane interface {
	// Apply makes the listeners and backends match routes, atomically.
	Apply(routes []Route) error
	// Shutdown closes the listeners.
	Shutdown(ctx context.Context) error
}

// routesLocked computes the routes of every Service.
func (r *Runtime) routesLocked() []Route {
	var out []Route
	for _, k := range sortedKeys(r.obj.services) {
		s := r.obj.services[k]
		var split *CanaryRoute
		if c := r.obj.canaryOfService(s.Namespace, s.Name); c != nil {
			if routes, ok := r.obj.routes[key(c.Namespace, c.Name)]; ok {
				split = r.canaryRouteLocked(c, routes)
			}
		}
		var backends []Backend
		if split == nil {
			selected := map[string]bool{}
			for _, dk := range sortedKeys(r.obj.deployments) {
				d := r.obj.deployments[dk]
				if !selects(s, d) {
					continue
				}
				selected[d.Name] = true
				eps := r.endpointsLocked(d.Namespace, d.Name)
				backends = append(backends, Backend{
					Name: d.Name, Namespace: d.Namespace, Deployment: d.Name,
					Weight: len(eps), Endpoints: eps,
				})
			}
			backends = append(backends, r.handoverBackendsLocked(selected, s.Namespace)...)
		}
		for _, p := range s.Spec.Ports {
			out = append(out, Route{
				Name:      fmt.Sprintf("%s/%s:%d", s.Namespace, s.Name, p.Port),
				Namespace: s.Namespace, Service: s.Name, Port: p.Port,
				Backends: slices.Clone(backends), Canary: split,
			})
		}
	}
	return out
}

func (r *Runtime) canaryRouteLocked(c *v1beta1.Canary, routes rollout.Routes) *CanaryRoute {
	primary, target := wlocal.PrimaryName(c), c.Spec.TargetRef.Name
	return &CanaryRoute{
		Canary: c.DeepCopy(),
		Routes: routes,
		Primary: Backend{
			Name: c.ServiceName() + "-primary", Namespace: c.Namespace, Deployment: primary,
			Weight: routes.PrimaryWeight, Endpoints: r.endpointsLocked(c.Namespace, primary),
		},
		Target: Backend{
			Name: c.ServiceName() + "-canary", Namespace: c.Namespace, Deployment: target,
			Weight: routes.CanaryWeight, Endpoints: r.endpointsLocked(c.Namespace, target),
		},
	}
}
