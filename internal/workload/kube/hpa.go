package kube

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
)

// autoscaler reads a HorizontalPodAutoscaler; nil when it does not exist.
func (w *Workload) autoscaler(ctx context.Context, ns, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := w.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, h); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read horizontalpodautoscaler %s/%s: %w", ns, name, err)
	}
	return h, nil
}

// ensureAutoscaler creates "<hpa>-primary", a copy of the target's
// autoscaler that scales the primary, or, with update, brings its spec up
// to date. Without spec.autoscalerRef it does nothing.
func (w *Workload) ensureAutoscaler(ctx context.Context, c *v1beta1.Canary, update bool) error {
	ref := c.Spec.AutoscalerRef
	if ref == nil {
		return nil
	}
	if ref.Kind != "" && ref.Kind != "HorizontalPodAutoscaler" {
		return fmt.Errorf("spec.autoscalerRef.kind: %s, got %q", v1beta1.UnsupportedAutoscaler, ref.Kind)
	}
	src, err := w.autoscaler(ctx, c.Namespace, ref.Name)
	if err != nil {
		return err
	}
	if src == nil {
		return fmt.Errorf("spec.autoscalerRef: horizontalpodautoscaler %s/%s not found", c.Namespace, ref.Name)
	}
	spec := *src.Spec.DeepCopy()
	spec.ScaleTargetRef.Name = PrimaryName(c)
	if r := ref.PrimaryScalerReplicas; r != nil {
		if r.MinReplicas != nil {
			spec.MinReplicas = r.MinReplicas
		}
		if r.MaxReplicas != nil {
			spec.MaxReplicas = *r.MaxReplicas
		}
	}
	name := ref.Name + PrimarySuffix
	existing, err := w.autoscaler(ctx, c.Namespace, name)
	if err != nil {
		return err
	}
	if existing == nil {
		h := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: src.Labels},
			Spec:       spec,
		}
		setController(c, h)
		if err := w.c.Create(ctx, h); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create horizontalpodautoscaler %s/%s: %w", c.Namespace, name, err)
		}
		return nil
	}
	if !update || equality.Semantic.DeepEqual(existing.Spec, spec) {
		return nil
	}
	updated := existing.DeepCopy()
	updated.Spec = spec
	if err := w.c.Patch(ctx, updated, client.MergeFrom(existing)); err != nil {
		return fmt.Errorf("update horizontalpodautoscaler %s/%s: %w", c.Namespace, name, err)
	}
	return nil
}
