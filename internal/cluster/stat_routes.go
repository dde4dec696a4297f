package cluster

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RouteStatRow is one leaf of a traffic split with the inbound metrics of
// the Deployment behind the leaf's Service.
type RouteStatRow struct {
	Kind   string `json:"kind"`
	Apex   string `json:"apex"`
	Leaf   string `json:"leaf"`
	Weight int    `json:"weight"`
	// Deployment is the one the leaf Service selects, if any.
	Deployment string `json:"deployment,omitempty"`
	StatRow
}

// StatRoutes returns a row per backend of every TrafficSplit and HTTPRoute
// in ns (every namespace when empty). The metrics are those of the
// Deployment the backend Service selects, as Stat gives them: what the
// leaf served, from every client.
func (c *Client) StatRoutes(ctx context.Context, q Querier, ns string, window time.Duration, ts time.Time) ([]RouteStatRow, error) {
	routes, err := c.Routes(ctx, ns)
	if err != nil {
		return nil, err
	}
	deps, err := c.Deployments(ctx, ns)
	if err != nil {
		return nil, err
	}
	stats, err := LinkerdStats(ctx, q, StatDeployment, ns, window, ts)
	if err != nil {
		return nil, err
	}
	var out []RouteStatRow
	for _, r := range routes {
		for _, b := range r.Backends {
			row := RouteStatRow{Kind: r.Kind, Apex: r.Name, Leaf: b.Name, Weight: b.Weight}
			row.Namespace, row.Name = r.Namespace, b.Name
			svc := &corev1.Service{}
			err := c.cl.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: b.Name}, svc)
			if err != nil && !isNotFound(err) {
				return nil, access(err, "get", "services", r.Namespace)
			}
			if err == nil && len(svc.Spec.Selector) > 0 {
				sel := labels.SelectorFromSet(svc.Spec.Selector)
				for _, d := range deps {
					dep := d.Deployment
					if dep.Namespace == r.Namespace && sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
						row.Deployment = dep.Name
						if s, ok := stats[dep.Namespace+"/"+dep.Name]; ok {
							row.StatRow = s
							row.Namespace, row.Name = r.Namespace, b.Name
						}
						break
					}
				}
			}
			out = append(out, row)
		}
	}
	return out, nil
}
