package local

import (
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// handoverAnnotation marks a former primary that keeps serving the
// Services of its target (the annotation's value) until the target's pods
// are ready, after its Canary was deleted without revertOnDeletion.
const handoverAnnotation = "serin.dev/handover-to"

// deleteCanaryLocked deletes a Canary and returns what to print. With
// spec.revertOnDeletion the Canary is only marked for deletion: its ticks
// go through Terminating (target scaled back up, all traffic to it,
// primary removed) and it is dropped once Terminated. Without it the
// Canary is dropped at once and its primary hands over to the target:
// the target is scaled back to the primary's replica count and the
// primary keeps serving until the target's pods are ready.
func (r *Runtime) deleteCanaryLocked(ns, name string) (string, bool) {
	k := key(ns, name)
	c, ok := r.obj.canaries[k]
	if !ok {
		return "", false
	}
	if c.Spec.RevertOnDeletion {
		if c.DeletionTimestamp == nil {
			now := metav1.NewTime(r.now())
			c.DeletionTimestamp = &now
		}
		delete(r.due, k)
		r.wakeCanaries()
		return fmt.Sprintf("canary/%s terminating (spec.revertOnDeletion: deployment %s is restored, then the canary is deleted)",
			name, c.Spec.TargetRef.Name), true
	}
	r.obj.handOver(c)
	r.obj.dropCanary(c)
	r.recordLocked(Event{Type: "Normal", Reason: "Deleted", Kind: "Canary", Namespace: ns, Name: name,
		Message: fmt.Sprintf("Deleted canary %s: deployment %s is scaled back up and takes over from %s once ready", name, c.Spec.TargetRef.Name, wlocal.PrimaryName(c))})
	return fmt.Sprintf("canary/%s deleted", name), true
}

// handOver scales the target of a Canary being deleted back to the
// primary's replica count and marks the primary to serve the target's
// Services until the target is ready.
func (o *objects) handOver(c *v1beta1.Canary) {
	pk := key(c.Namespace, wlocal.PrimaryName(c))
	primary, ok := o.deployments[pk]
	if !ok || primary.Annotations[canaryAnnotation] != c.Name {
		return
	}
	target, ok := o.deployments[key(c.Namespace, c.Spec.TargetRef.Name)]
	if !ok {
		return // the primary goes with the Canary
	}
	if *target.Spec.Replicas == 0 {
		target = target.DeepCopy()
		n := max(*primary.Spec.Replicas, 1)
		target.Spec.Replicas = &n
		target.Generation++
		o.deployments[key(target.Namespace, target.Name)] = target
	}
	primary = primary.DeepCopy()
	primary.Annotations = maps.Clone(primary.Annotations)
	delete(primary.Annotations, canaryAnnotation)
	primary.Annotations[handoverAnnotation] = target.Name
	o.deployments[pk] = primary
}

// dropCanary removes a Canary, its split, the Deployments serin made for
// it and the Services it made but the apex one, which is kept selecting
// the target's pods so that its clients keep being served.
func (o *objects) dropCanary(c *v1beta1.Canary) {
	ns := c.Namespace
	delete(o.canaries, key(ns, c.Name))
	delete(o.applied, objectKey("canary", ns, c.Name))
	delete(o.routes, key(ns, c.Name))
	for dk, d := range o.deployments {
		if d.Namespace == ns && d.Annotations[canaryAnnotation] == c.Name {
			delete(o.deployments, dk)
		}
	}
	target := o.deployments[key(ns, c.Spec.TargetRef.Name)]
	for sk, s := range o.services {
		if s.Namespace != ns || s.Annotations[canaryAnnotation] != c.Name {
			continue
		}
		if s.Name != c.ServiceName() || target == nil || target.Spec.Selector == nil || len(target.Spec.Selector.MatchLabels) == 0 {
			delete(o.services, sk)
			continue
		}
		s = s.DeepCopy()
		delete(s.Annotations, canaryAnnotation)
		s.Spec.Selector = maps.Clone(target.Spec.Selector.MatchLabels)
		o.services[sk] = s
	}
}

// finishHandoversLocked removes the former primaries whose target is
// ready, or gone.
func (r *Runtime) finishHandoversLocked() {
	for k, d := range r.obj.deployments {
		to, ok := d.Annotations[handoverAnnotation]
		if !ok {
			continue
		}
		if _, exists := r.obj.deployments[key(d.Namespace, to)]; exists {
			rd := r.readinessLocked(d.Namespace, to)
			if rd.Ready < rd.Desired || rd.Updated < rd.Desired {
				continue
			}
		}
		delete(r.obj.deployments, k)
		r.recordLocked(Event{Type: "Normal", Reason: "HandedOver", Kind: "Deployment", Namespace: d.Namespace, Name: d.Name,
			Message: fmt.Sprintf("Deployment %s is ready; removing %s", to, d.Name)})
	}
}

// handoverBackendsLocked are the former primaries that still serve for
// the Deployments a Service selects.
func (r *Runtime) handoverBackendsLocked(selected map[string]bool, ns string) []Backend {
	var out []Backend
	for _, dk := range sortedKeys(r.obj.deployments) {
		d := r.obj.deployments[dk]
		if to, ok := d.Annotations[handoverAnnotation]; ok && d.Namespace == ns && selected[to] {
			eps := r.endpointsLocked(d.Namespace, d.Name)
			out = append(out, Backend{Name: d.Name, Namespace: d.Namespace, Deployment: d.Name, Weight: len(eps), Endpoints: eps})
		}
	}
	return out
}

// finalizeLocked drops a Canary being deleted once its termination is
// done, or at once when its target is gone and there is nothing to
// restore.
func (r *Runtime) finalizeLocked(c *v1beta1.Canary, why string) {
	r.obj.handOver(c) // a primary still there serves until the target is ready
	r.obj.dropCanary(c)
	delete(r.due, key(c.Namespace, c.Name))
	delete(r.readySeen, key(c.Namespace, c.Name))
	r.recordLocked(Event{Type: "Normal", Reason: "Deleted", Kind: "Canary", Namespace: c.Namespace, Name: c.Name,
		Message: fmt.Sprintf("Deleted canary %s: %s", c.Name, why)})
}
