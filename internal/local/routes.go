package local

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

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
	// Port is the Service's port.
	Port int32
	// Addr is the address the listener takes: 127.0.0.1:Port, or a free
	// loopback port for a port below 1024 and for the Services a Canary
	// makes (see listenAddrLocked).
	Addr string
	// Made is set on the routes of the <service>-primary and
	// <service>-canary Services a Canary makes, which are not objects of
	// the runtime.
	Made string
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
				Addr:     r.listenAddrLocked(s.Namespace, s.Name, p.Port, false),
				Backends: slices.Clone(backends), Canary: split,
			})
		}
		out = append(out, r.madeRoutesLocked(s)...)
	}
	return out
}

// madeRoutesLocked are the routes of the <service>-primary and
// <service>-canary Services of the Canary whose apex Service is s, on the
// apex Service's ports: as on Kubernetes, they reach the primary's and the
// target's pods straight, whatever the split.
func (r *Runtime) madeRoutesLocked(s *corev1.Service) []Route {
	c := r.obj.canaryOfService(s.Namespace, s.Name)
	if c == nil {
		return nil
	}
	var out []Route
	for _, m := range []struct{ svc, deploy string }{
		{s.Name + "-primary", wlocal.PrimaryName(c)},
		{s.Name + "-canary", c.Spec.TargetRef.Name},
	} {
		eps := r.endpointsLocked(s.Namespace, m.deploy)
		b := Backend{Name: m.svc, Namespace: s.Namespace, Deployment: m.deploy, Weight: len(eps), Endpoints: eps}
		for _, p := range s.Spec.Ports {
			out = append(out, Route{
				Name:      fmt.Sprintf("%s/%s:%d", s.Namespace, m.svc, p.Port),
				Namespace: s.Namespace, Service: m.svc, Port: p.Port, Made: c.Name,
				Addr:     r.listenAddrLocked(s.Namespace, m.svc, p.Port, true),
				Backends: []Backend{b},
			})
		}
	}
	return out
}

// minBoundPort is the lowest Service port that listens on its own number
// on 127.0.0.1: a lower one needs root on most machines (and on
// Kubernetes any number of Services take port 80), so it listens on a
// free port instead, reached by the Service's name.
const minBoundPort = 1024

// boundPort reports whether a Service port listens on its own number.
func boundPort(p int32) bool { return p >= minBoundPort }

// listenAddrLocked is the address of a Service port's listener: its own
// number, or, for a port below minBoundPort and for the Services a Canary
// makes, a free loopback port chosen once and kept while the route
// exists.
func (r *Runtime) listenAddrLocked(ns, svc string, port int32, made bool) string {
	if !made && boundPort(port) {
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	k := fmt.Sprintf("%s/%s:%d", ns, svc, port)
	if p, ok := r.ports[k]; ok {
		return fmt.Sprintf("127.0.0.1:%d", p)
	}
	p, err := freePort()
	if err != nil {
		// Port 0 cannot be listened on twice: the proxy reports it.
		r.log.Warn("no free port for a service", "service", k, "err", err)
		return "127.0.0.1:0"
	}
	r.ports[k] = p
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// applyRoutesLocked gives the proxy the routes and the processes the
// names table of their listeners. A free port chosen for a listener that
// something took meanwhile is chosen again, twice at most.
func (r *Runtime) applyRoutesLocked() error {
	var err error
	for range 3 {
		routes := r.routesLocked()
		r.prunePortsLocked(routes)
		if err = r.plane.Apply(routes); err == nil {
			r.publishNamesLocked(routes)
			return nil
		}
		var pe *PortInUseError
		if !errors.As(err, &pe) {
			return err
		}
		k := fmt.Sprintf("%s/%s:%d", pe.Namespace, pe.Service, pe.Port)
		if _, chosen := r.ports[k]; !chosen {
			return err
		}
		delete(r.ports, k)
	}
	return err
}

// prunePortsLocked forgets the ports chosen for routes that are gone.
func (r *Runtime) prunePortsLocked(routes []Route) {
	live := make(map[string]bool, len(routes))
	for _, rt := range routes {
		live[fmt.Sprintf("%s/%s:%d", rt.Namespace, rt.Service, rt.Port)] = true
	}
	for k := range r.ports {
		if !live[k] {
			delete(r.ports, k)
		}
	}
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
