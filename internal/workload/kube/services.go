package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
)

// serviceSpec is what serin sets on one of a Canary's Services.
type serviceSpec struct {
	name     string
	selector map[string]string
	meta     *v1beta1.CustomMetadata
	// headless: created with clusterIP None (service.headless, primary and
	// canary Services only).
	headless bool
}

// ensureServices creates or updates the apex, primary and canary Services.
// An apex Service that exists already (created with the target) is taken
// over: its selector and port are set, its ownership is left as it is.
func (w *Workload) ensureServices(ctx context.Context, c *v1beta1.Canary, target *appsv1.Deployment) error {
	key, value, err := selectorLabel(target, w.o.SelectorLabels)
	if err != nil {
		return err
	}
	apex := ServiceName(c)
	primarySel := map[string]string{key: PrimaryName(c)}
	for _, s := range []serviceSpec{
		{name: apex, selector: primarySel, meta: c.Spec.Service.Apex},
		{name: apex + PrimarySuffix, selector: primarySel, meta: c.Spec.Service.Primary, headless: c.Spec.Service.Headless},
		{name: apex + CanarySuffix, selector: map[string]string{key: value}, meta: c.Spec.Service.Canary, headless: c.Spec.Service.Headless},
	} {
		if err := w.ensureService(ctx, c, s); err != nil {
			return err
		}
	}
	return nil
}

func (w *Workload) ensureService(ctx context.Context, c *v1beta1.Canary, s serviceSpec) error {
	ports := servicePorts(c)
	existing := &corev1.Service{}
	err := w.c.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: s.name}, existing)
	if apierrors.IsNotFound(err) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: c.Namespace},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: s.selector,
				Ports:    ports,
			},
		}
		if s.meta != nil {
			svc.Labels, svc.Annotations = maps.Clone(s.meta.Labels), maps.Clone(s.meta.Annotations)
		}
		if s.headless {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		if td := c.Spec.Service.TrafficDistribution; td != "" {
			svc.Spec.TrafficDistribution = &td
		}
		setController(c, svc)
		if err := w.c.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s/%s: %w", c.Namespace, s.name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read service %s/%s: %w", c.Namespace, s.name, err)
	}
	updated := existing.DeepCopy()
	updated.Spec.Selector = s.selector
	updated.Spec.Ports = mergePorts(existing.Spec.Ports, ports)
	if s.meta != nil {
		updated.Labels = mergeMaps(updated.Labels, s.meta.Labels)
		updated.Annotations = mergeMaps(updated.Annotations, s.meta.Annotations)
	}
	// clusterIP cannot change once set: headless applies to Services
	// serin creates.
	if td := c.Spec.Service.TrafficDistribution; td != "" {
		updated.Spec.TrafficDistribution = &td
	}
	keepUnmanaged(c, &updated.ObjectMeta, &existing.ObjectMeta)
	if equality.Semantic.DeepEqual(existing, updated) {
		return nil
	}
	if err := w.c.Patch(ctx, updated, client.MergeFrom(existing)); err != nil {
		return fmt.Errorf("update service %s/%s: %w", c.Namespace, s.name, err)
	}
	return nil
}

// restoreApex points the apex Service at the target and drops the
// Canary's ownership of it.
func (w *Workload) restoreApex(ctx context.Context, c *v1beta1.Canary, target *appsv1.Deployment) error {
	key, value, err := selectorLabel(target, w.o.SelectorLabels)
	if err != nil {
		return err
	}
	existing := &corev1.Service{}
	err = w.c.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: ServiceName(c)}, existing)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read service %s/%s: %w", c.Namespace, ServiceName(c), err)
	}
	updated := existing.DeepCopy()
	updated.Spec.Selector = map[string]string{key: value}
	updated.OwnerReferences = slices.DeleteFunc(updated.OwnerReferences, func(r metav1.OwnerReference) bool {
		return r.UID == c.UID
	})
	if equality.Semantic.DeepEqual(existing, updated) {
		return nil
	}
	if err := w.c.Patch(ctx, updated, client.MergeFrom(existing)); err != nil {
		return fmt.Errorf("restore service %s/%s: %w", c.Namespace, ServiceName(c), err)
	}
	return nil
}

// servicePorts is the port the Canary's Services expose.
func servicePorts(c *v1beta1.Canary) []corev1.ServicePort {
	s := c.Spec.Service
	name := s.PortName
	if name == "" {
		name = "http"
	}
	target := s.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(s.Port)
	}
	p := corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: s.Port, TargetPort: target}
	if s.AppProtocol != "" {
		p.AppProtocol = &s.AppProtocol
	}
	return []corev1.ServicePort{p}
}

// mergePorts sets serin's port on a Service, keeping the other ports and
// the node port the API server assigned.
func mergePorts(existing, want []corev1.ServicePort) []corev1.ServicePort {
	out := slices.Clone(want)
	for _, e := range existing {
		i := slices.IndexFunc(out, func(p corev1.ServicePort) bool { return p.Port == e.Port || p.Name == e.Name })
		if i < 0 {
			out = append(out, e)
			continue
		}
		out[i].NodePort = e.NodePort
	}
	return out
}

// keepUnmanaged gives the keys of service.unmanagedMetadata in want the
// values they have in existing (or leaves them out, as existing does):
// serin neither sets nor removes them.
func keepUnmanaged(c *v1beta1.Canary, want, existing *metav1.ObjectMeta) {
	u := c.Spec.Service.UnmanagedMetadata
	if u == nil {
		return
	}
	want.Labels = keepKeys(want.Labels, existing.Labels, u.Labels)
	want.Annotations = keepKeys(want.Annotations, existing.Annotations, u.Annotations)
}

func keepKeys(want, existing map[string]string, keys []string) map[string]string {
	for _, k := range keys {
		v, ok := existing[k]
		switch {
		case ok && want == nil:
			want = map[string]string{k: v}
		case ok:
			want[k] = v
		default:
			delete(want, k)
		}
	}
	return want
}

func mergeMaps(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string]string{}
	}
	maps.Copy(dst, src)
	return dst
}
