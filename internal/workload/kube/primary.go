package kube

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
)

// lastApplied is kubectl's annotation, not copied to the primary.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// initPrimary creates what is missing of the primary, its configs, its
// autoscaler and the Services. An existing primary keeps its template: only
// PromotePrimary changes it.
func (w *Workload) initPrimary(ctx context.Context, c *v1beta1.Canary) error {
	target, tracked, err := w.target(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range tracked {
		if err := w.ensureConfig(ctx, c, t, false); err != nil {
			return err
		}
	}
	primary, err := w.deployment(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return err
	}
	if primary == nil {
		p, err := w.buildPrimary(c, target, tracked)
		if err != nil {
			return err
		}
		setController(c, p)
		if err := w.c.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create deployment %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if err := w.ensureAutoscaler(ctx, c, false); err != nil {
		return err
	}
	return w.ensureServices(ctx, c, target)
}

// promote copies the target's template and tracked configs to the primary.
func (w *Workload) promote(ctx context.Context, c *v1beta1.Canary) error {
	target, tracked, err := w.target(ctx, c)
	if err != nil {
		return err
	}
	for _, t := range tracked {
		if err := w.ensureConfig(ctx, c, t, true); err != nil {
			return err
		}
	}
	primary, err := w.deployment(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return err
	}
	if primary == nil {
		return fmt.Errorf("primary deployment %s/%s not found", c.Namespace, PrimaryName(c))
	}
	want, err := w.buildPrimary(c, target, tracked)
	if err != nil {
		return err
	}
	updated := primary.DeepCopy()
	updated.Spec.Template = want.Spec.Template
	keepUnmanaged(c, &updated.Spec.Template.ObjectMeta, &primary.Spec.Template.ObjectMeta)
	updated.Spec.Strategy = want.Spec.Strategy
	updated.Spec.MinReadySeconds = want.Spec.MinReadySeconds
	updated.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
	updated.Spec.ProgressDeadlineSeconds = want.Spec.ProgressDeadlineSeconds
	if err := w.c.Patch(ctx, updated, client.MergeFrom(primary)); err != nil {
		return fmt.Errorf("promote deployment %s/%s: %w", primary.Namespace, primary.Name, err)
	}
	return w.ensureAutoscaler(ctx, c, true)
}

// restore scales the target back up and points the apex Service at it, so
// that it serves on its own once the Canary and what it owns are gone. The
// apex Service loses its owner reference to the Canary so that it stays.
func (w *Workload) restore(ctx context.Context, c *v1beta1.Canary) error {
	target, _, err := w.target(ctx, c)
	if err != nil {
		return err
	}
	n, err := w.canaryReplicas(ctx, c)
	if err != nil {
		return err
	}
	if err := w.scale(ctx, c.Namespace, target.Name, n); err != nil {
		return err
	}
	return w.restoreApex(ctx, c, target)
}

// canaryReplicas is the replica count the target runs with during a
// release: the primary's, or the autoscaler's minimum.
func (w *Workload) canaryReplicas(ctx context.Context, c *v1beta1.Canary) (int32, error) {
	if c.Spec.AutoscalerRef != nil {
		h, err := w.autoscaler(ctx, c.Namespace, c.Spec.AutoscalerRef.Name)
		if err != nil {
			return 0, err
		}
		if h != nil && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > 0 {
			return *h.Spec.MinReplicas, nil
		}
	}
	p, err := w.deployment(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return 0, err
	}
	if p != nil && p.Spec.Replicas != nil && *p.Spec.Replicas > 0 {
		return *p.Spec.Replicas, nil
	}
	return 1, nil
}

// scale sets a Deployment's replicas when they differ.
func (w *Workload) scale(ctx context.Context, ns, name string, n int32) error {
	d, err := w.deployment(ctx, ns, name)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("scale deployment %s/%s: not found", ns, name)
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas == n {
		return nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	if err := w.c.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("scale deployment %s/%s to %d: %w", ns, name, n, err)
	}
	return nil
}

// buildPrimary returns the primary Deployment for target: the target's pod
// template with the selector label set to the primary's name and tracked
// configs renamed to their primary copies.
func (w *Workload) buildPrimary(c *v1beta1.Canary, target *appsv1.Deployment, tracked []trackedConfig) (*appsv1.Deployment, error) {
	key, _, err := selectorLabel(target, w.o.SelectorLabels)
	if err != nil {
		return nil, err
	}
	name := PrimaryName(c)
	tmpl := target.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[key] = name
	renameConfigRefs(&tmpl.Spec, tracked)

	labels := includedLabels(target.Labels, w.o.IncludeLabelPrefixes)
	labels[key] = name
	annotations := maps.Clone(target.Annotations)
	delete(annotations, lastApplied)

	replicas := ptr.Deref(target.Spec.Replicas, 1)
	if replicas == 0 {
		replicas = 1
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   c.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(replicas),
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{key: name}},
			Template:                *tmpl,
			Strategy:                target.Spec.Strategy,
			MinReadySeconds:         target.Spec.MinReadySeconds,
			RevisionHistoryLimit:    target.Spec.RevisionHistoryLimit,
			ProgressDeadlineSeconds: target.Spec.ProgressDeadlineSeconds,
		},
	}, nil
}

// ensureConfig creates the primary copy of a tracked config, or, with
// update, brings its data up to date.
func (w *Workload) ensureConfig(ctx context.Context, c *v1beta1.Canary, t trackedConfig, update bool) error {
	want := primaryConfig(t)
	setController(c, want)
	existing := want.DeepCopyObject().(client.Object)
	err := w.c.Get(ctx, client.ObjectKeyFromObject(want), existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := w.c.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s/%s: %w", t.ref.Kind, want.GetNamespace(), want.GetName(), err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read %s %s/%s: %w", t.ref.Kind, want.GetNamespace(), want.GetName(), err)
	case !update:
		return nil
	}
	want.SetResourceVersion(existing.GetResourceVersion())
	if u := c.Spec.Service.UnmanagedMetadata; u != nil {
		want.SetLabels(keepKeys(want.GetLabels(), existing.GetLabels(), u.Labels))
		want.SetAnnotations(keepKeys(want.GetAnnotations(), existing.GetAnnotations(), u.Annotations))
	}
	if err := w.c.Update(ctx, want); err != nil {
		return fmt.Errorf("update %s %s/%s: %w", t.ref.Kind, want.GetNamespace(), want.GetName(), err)
	}
	return nil
}
