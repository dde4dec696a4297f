package kube

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// A DaemonSet cannot be scaled: it runs a pod on every node its template
// selects. The canary DaemonSet is scaled to zero, as Flagger does it, by a
// node selector no node matches, and scaled up by removing it. The key is
// Flagger's, so that a DaemonSet Flagger scaled down is recognised.
const scaleToZeroKey = "flagger.app/scale-to-zero"

func isDaemonSet(c *v1beta1.Canary) bool { return c.Spec.TargetRef.Kind == "DaemonSet" }

// daemonSet reads a DaemonSet; nil when it does not exist.
func (w *Workload) daemonSet(ctx context.Context, ns, name string) (*appsv1.DaemonSet, error) {
	d := &appsv1.DaemonSet{}
	if err := w.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read daemonset %s/%s: %w", ns, name, err)
	}
	return d, nil
}

// asDeployment is the view of a DaemonSet that the code shared with
// Deployments reads (selector label, revision, primary template,
// Services): its metadata, selector and pod template, without the
// scale-to-zero node selector, which is not part of the revision.
func asDeployment(ds *appsv1.DaemonSet) *appsv1.Deployment {
	tmpl := ds.Spec.Template.DeepCopy()
	delete(tmpl.Spec.NodeSelector, scaleToZeroKey)
	if len(tmpl.Spec.NodeSelector) == 0 {
		tmpl.Spec.NodeSelector = nil
	}
	return &appsv1.Deployment{
		ObjectMeta: *ds.ObjectMeta.DeepCopy(),
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To[int32](1),
			Selector:             ds.Spec.Selector,
			Template:             *tmpl,
			MinReadySeconds:      ds.Spec.MinReadySeconds,
			RevisionHistoryLimit: ds.Spec.RevisionHistoryLimit,
		},
	}
}

// dsReadiness reports a DaemonSet's pods: one desired per node it is
// scheduled on. Until the DaemonSet controller has observed the latest
// spec, no pod counts as updated.
func dsReadiness(d *appsv1.DaemonSet) rollout.Readiness {
	r := rollout.Readiness{Desired: d.Status.DesiredNumberScheduled, Ready: d.Status.NumberReady}
	if d.Status.ObservedGeneration >= d.Generation {
		r.Updated = d.Status.UpdatedNumberScheduled
	} else {
		r.Reason = fmt.Sprintf("daemonset %s: waiting for the daemonset controller to observe generation %d", d.Name, d.Generation)
	}
	return r
}

// daemonSetTarget reads the target DaemonSet, which must exist, and its
// tracked configs.
func (w *Workload) daemonSetTarget(ctx context.Context, c *v1beta1.Canary) (*appsv1.DaemonSet, []trackedConfig, error) {
	t, err := w.daemonSet(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		return nil, nil, fmt.Errorf("target daemonset %s/%s not found", c.Namespace, c.Spec.TargetRef.Name)
	}
	tracked, err := w.readConfigs(ctx, c.Namespace, &t.Spec.Template.Spec)
	if err != nil {
		return nil, nil, err
	}
	return t, tracked, nil
}

func (w *Workload) observeDaemonSet(ctx context.Context, c *v1beta1.Canary) (rollout.WorkloadState, error) {
	var st rollout.WorkloadState
	target, err := w.daemonSet(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return st, err
	}
	if target != nil {
		if err := w.observeTarget(ctx, c, asDeployment(target), dsReadiness(target), &st); err != nil {
			return st, err
		}
	}
	primary, err := w.daemonSet(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return st, err
	}
	if primary != nil {
		st.PrimaryFound = true
		st.Primary = dsReadiness(primary)
	}
	return st, nil
}

func (w *Workload) applyDaemonSet(ctx context.Context, c *v1beta1.Canary, a rollout.Action) error {
	switch a.Type {
	case rollout.InitPrimary:
		return w.initPrimaryDaemonSet(ctx, c)
	case rollout.ScaleCanaryUp:
		return w.scaleDaemonSet(ctx, c, true)
	case rollout.ScaleCanaryDown:
		return w.scaleDaemonSet(ctx, c, false)
	case rollout.PromotePrimary:
		return w.promoteDaemonSet(ctx, c)
	case rollout.RestoreTarget:
		if err := w.scaleDaemonSet(ctx, c, true); err != nil {
			return err
		}
		target, _, err := w.daemonSetTarget(ctx, c)
		if err != nil {
			return err
		}
		return w.restoreApex(ctx, c, asDeployment(target))
	}
	return fmt.Errorf("workload action %q is not supported", a.Type)
}

// primaryDaemonSet is the primary DaemonSet for target: buildPrimary's
// template, selector and metadata, with the target's update strategy.
func (w *Workload) primaryDaemonSet(c *v1beta1.Canary, target *appsv1.DaemonSet, tracked []trackedConfig) (*appsv1.DaemonSet, error) {
	d, err := w.buildPrimary(c, asDeployment(target), tracked)
	if err != nil {
		return nil, err
	}
	return &appsv1.DaemonSet{
		ObjectMeta: d.ObjectMeta,
		Spec: appsv1.DaemonSetSpec{
			Selector:             d.Spec.Selector,
			Template:             d.Spec.Template,
			UpdateStrategy:       target.Spec.UpdateStrategy,
			MinReadySeconds:      target.Spec.MinReadySeconds,
			RevisionHistoryLimit: target.Spec.RevisionHistoryLimit,
		},
	}, nil
}

// initPrimaryDaemonSet creates what is missing of the primary DaemonSet,
// its configs and the Services. An existing primary keeps its template.
func (w *Workload) initPrimaryDaemonSet(ctx context.Context, c *v1beta1.Canary) error {
	target, tracked, err := w.daemonSetTarget(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range tracked {
		if err := w.ensureConfig(ctx, c, t, false); err != nil {
			return err
		}
	}
	primary, err := w.daemonSet(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return err
	}
	if primary == nil {
		p, err := w.primaryDaemonSet(c, target, tracked)
		if err != nil {
			return err
		}
		if err := controllerutil.SetControllerReference(c, p, w.c.Scheme()); err != nil {
			return fmt.Errorf("own daemonset %s: %w", p.Name, err)
		}
		if err := w.c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create daemonset %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return w.ensureServices(ctx, c, asDeployment(target))
}

// promoteDaemonSet copies the target's template (and configs) to the
// primary DaemonSet.
func (w *Workload) promoteDaemonSet(ctx context.Context, c *v1beta1.Canary) error {
	target, tracked, err := w.daemonSetTarget(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range tracked {
		if err := w.ensureConfig(ctx, c, t, true); err != nil {
			return err
		}
	}
	primary, err := w.daemonSet(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return err
	}
	if primary == nil {
		return fmt.Errorf("primary daemonset %s/%s not found", c.Namespace, PrimaryName(c))
	}
	want, err := w.primaryDaemonSet(c, target, tracked)
	if err != nil {
		return err
	}
	updated := primary.DeepCopy()
	updated.Spec.Template = want.Spec.Template
	keepUnmanaged(c, &updated.Spec.Template.ObjectMeta, &primary.Spec.Template.ObjectMeta)
	updated.Spec.UpdateStrategy = want.Spec.UpdateStrategy
	updated.Spec.MinReadySeconds = want.Spec.MinReadySeconds
	updated.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
	if err := w.c.Patch(ctx, updated, client.MergeFrom(primary)); err != nil {
		return fmt.Errorf("promote daemonset %s/%s: %w", primary.Namespace, primary.Name, err)
	}
	return nil
}

// scaleDaemonSet runs the target DaemonSet's pods (up) or none of them,
// through the scale-to-zero node selector.
func (w *Workload) scaleDaemonSet(ctx context.Context, c *v1beta1.Canary, up bool) error {
	d, err := w.daemonSet(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("scale daemonset %s/%s: not found", c.Namespace, c.Spec.TargetRef.Name)
	}
	_, down := d.Spec.Template.Spec.NodeSelector[scaleToZeroKey]
	if up != down {
		return nil
	}
	var value any // null removes the key
	if !up {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"nodeSelector": map[string]any{scaleToZeroKey: value},
	}}}})
	if err != nil {
		return err
	}
	if err := w.c.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("scale daemonset %s/%s: %w", d.Namespace, d.Name, err)
	}
	return nil
}
