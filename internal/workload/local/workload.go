package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
)

// PrimarySuffix is appended to the target's name for the primary.
const PrimarySuffix = "-primary"

// Cluster is what the Workload needs from the local runtime.
type Cluster interface {
	// Deployment returns a copy of a Deployment, if it exists.
	Deployment(namespace, name string) (*appsv1.Deployment, bool)
	// PutDeployment creates or replaces a Deployment.
	PutDeployment(d *appsv1.Deployment) error
	// Readiness is the readiness of a Deployment's pods.
	Readiness(namespace, name string) rollout.Readiness
	// DeleteDeployment removes a Deployment and stops its pods; a
	// Deployment that does not exist is not an error.
	DeleteDeployment(namespace, name string) error
	// SetSplit sets the traffic split of a Canary's apex Service.
	SetSplit(namespace, canary string, r rollout.Routes) error
}

// Workload is the engine's Workload for local processes.
type Workload struct {
	cluster Cluster
}

var _ engine.Workload = (*Workload)(nil)

// New returns a Workload over c.
func New(c Cluster) *Workload { return &Workload{cluster: c} }

// PrimaryName is the name of the primary Deployment of c.
func PrimaryName(c *v1beta1.Canary) string { return c.Spec.TargetRef.Name + PrimarySuffix }

// Revision is the hash of a pod template, which names a revision.
func Revision(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// Observe reads the target's and the primary's state.
func (w *Workload) Observe(_ context.Context, c *v1beta1.Canary) (rollout.WorkloadState, error) {
	var st rollout.WorkloadState
	target, ok := w.cluster.Deployment(c.Namespace, c.Spec.TargetRef.Name)
	if !ok {
		return st, nil
	}
	st.TargetFound = true
	st.TargetRevision = Revision(&target.Spec.Template)
	st.Target = w.cluster.Readiness(c.Namespace, target.Name)
	if _, ok := w.cluster.Deployment(c.Namespace, PrimaryName(c)); ok {
		st.PrimaryFound = true
		st.Primary = w.cluster.Readiness(c.Namespace, PrimaryName(c))
	}
	return st, nil
}

// Apply carries out one workload action.
func (w *Workload) Apply(_ context.Context, c *v1beta1.Canary, a rollout.Action) error {
	target, ok := w.cluster.Deployment(c.Namespace, c.Spec.TargetRef.Name)
	if !ok {
		return fmt.Errorf("%s: deployment %s/%s not found", a.Type, c.Namespace, c.Spec.TargetRef.Name)
	}
	primary, hasPrimary := w.cluster.Deployment(c.Namespace, PrimaryName(c))
	switch a.Type {
	case rollout.InitPrimary:
		if hasPrimary {
			return nil
		}
		p, err := BuildPrimary(c, target)
		if err != nil {
			return err
		}
		return w.cluster.PutDeployment(p)
	case rollout.ScaleCanaryUp:
		return w.scale(target, restoredReplicas(primary, hasPrimary))
	case rollout.RestoreTarget:
		return w.restore(c, target, primary, hasPrimary)
	case rollout.ScaleCanaryDown:
		return w.scale(target, 0)
	case rollout.PromotePrimary:
		if !hasPrimary {
			return fmt.Errorf("%s: primary %s/%s not found", a.Type, c.Namespace, PrimaryName(c))
		}
		p, err := BuildPrimary(c, target)
		if err != nil {
			return err
		}
		p.Spec.Replicas = primary.Spec.Replicas
		if Revision(&p.Spec.Template) == Revision(&primary.Spec.Template) {
			return nil
		}
		return w.cluster.PutDeployment(p)
	default:
		return fmt.Errorf("workload: unknown action %q", a.Type)
	}
}

// restore undoes serin's changes for a Canary being deleted with
// revertOnDeletion: the target is scaled back to the primary's replica
// count and, once its pods are ready, gets all the traffic of the apex
// Service and the primary is removed. Until then the primary keeps
// serving, so the Service never loses its last ready backend.
func (w *Workload) restore(c *v1beta1.Canary, target, primary *appsv1.Deployment, hasPrimary bool) error {
	n := restoredReplicas(primary, hasPrimary)
	if !hasPrimary {
		n = max(replicas(target), 1) // nothing to take over from: keep its scale
	}
	if err := w.scale(target, n); err != nil {
		return err
	}
	rd := w.cluster.Readiness(c.Namespace, target.Name)
	if rd.Ready < n || rd.Updated < n {
		return nil
	}
	if err := w.cluster.SetSplit(c.Namespace, c.Name, rollout.Routes{CanaryWeight: 100}); err != nil {
		return fmt.Errorf("%s: route all traffic to %s: %w", rollout.RestoreTarget, target.Name, err)
	}
	if !hasPrimary {
		return nil
	}
	return w.cluster.DeleteDeployment(c.Namespace, primary.Name)
}

// restoredReplicas is the target's scale when it takes over from the
// primary: the primary's replica count, at least one.
func restoredReplicas(primary *appsv1.Deployment, hasPrimary bool) int32 {
	if hasPrimary && replicas(primary) > 0 {
		return replicas(primary)
	}
	return 1
}

func (w *Workload) scale(d *appsv1.Deployment, n int32) error {
	if replicas(d) == n {
		return nil
	}
	d.Spec.Replicas = &n
	return w.cluster.PutDeployment(d)
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// selectorKeys are the labels whose value tells the primary's pods from
// the target's, in order of preference.
var selectorKeys = []string{"app", "name", "app.kubernetes.io/name"}

// BuildPrimary returns the primary Deployment of c, built from target: the
// same pod template with the selector label renamed.
func BuildPrimary(c *v1beta1.Canary, target *appsv1.Deployment) (*appsv1.Deployment, error) {
	if target.Spec.Selector == nil {
		return nil, fmt.Errorf("deployment %s/%s: spec.selector: must be set", target.Namespace, target.Name)
	}
	key := ""
	for _, k := range selectorKeys {
		if _, ok := target.Spec.Selector.MatchLabels[k]; ok {
			key = k
			break
		}
	}
	if key == "" {
		return nil, fmt.Errorf("deployment %s/%s: spec.selector.matchLabels: must hold one of %v", target.Namespace, target.Name, selectorKeys)
	}
	name := PrimaryName(c)
	p := &appsv1.Deployment{}
	p.TypeMeta = target.TypeMeta
	p.Name, p.Namespace = name, target.Namespace
	p.Labels = maps.Clone(target.Labels)
	p.Annotations = map[string]string{"serin.dev/canary": c.Name}
	n := replicas(target)
	if n == 0 {
		n = 1
	}
	p.Spec = *target.Spec.DeepCopy()
	p.Spec.Replicas = &n
	p.Spec.Selector.MatchLabels[key] = name
	if p.Spec.Template.Labels == nil {
		p.Spec.Template.Labels = map[string]string{}
	}
	p.Spec.Template.Labels[key] = name
	return p, nil
}
