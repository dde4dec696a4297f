package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// canaryAnnotation marks the objects serin made for a Canary.
const canaryAnnotation = "serin.dev/canary"

// objects is the runtime's object set. It is guarded by Runtime.mu.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	canaries    map[string]*v1beta1.Canary
	templates   map[string]*v1beta1.MetricTemplate
	providers   map[string]*v1beta1.AlertProvider
	routes      map[string]rollout.Routes
	// applied is the sum of each object's content as last applied, by
	// kind/namespace/name (see appliedSum).
	applied map[string]string
}

func key(namespace, name string) string { return namespace + "/" + name }

func newObjects(st *State) *objects {
	o := &objects{
		deployments: byKey(st.Deployments),
		services:    byKey(st.Services),
		canaries:    byKey(st.Canaries),
		templates:   byKey(st.MetricTemplates),
		providers:   byKey(st.AlertProviders),
		routes:      maps.Clone(st.Routes),
		applied:     maps.Clone(st.Applied),
	}
	if o.routes == nil {
		o.routes = map[string]rollout.Routes{}
	}
	if o.applied == nil {
		o.applied = map[string]string{}
	}
	return o
}

// clone copies the index; the objects themselves are shared, since
// applying replaces an object rather than changing it.
func (o *objects) clone() *objects {
	return &objects{
		deployments: maps.Clone(o.deployments),
		services:    maps.Clone(o.services),
		canaries:    maps.Clone(o.canaries),
		templates:   maps.Clone(o.templates),
		providers:   maps.Clone(o.providers),
		routes:      maps.Clone(o.routes),
		applied:     maps.Clone(o.applied),
	}
}

// exists reports whether the object kind ns/name is held.
func (o *objects) exists(kind, ns, name string) bool {
	k := key(ns, name)
	var ok bool
	switch kind {
	case "deployment":
		_, ok = o.deployments[k]
	case "service":
		_, ok = o.services[k]
	case "canary":
		_, ok = o.canaries[k]
	case "metrictemplate":
		_, ok = o.templates[k]
	case "alertprovider":
		_, ok = o.providers[k]
	}
	return ok
}

// objectKey names an object by kind/namespace/name.
func objectKey(kind, ns, name string) string { return kind + "/" + key(ns, name) }

// appliedSum is the sum of an object's content as it was applied (before
// defaults), which tells a file applied again unchanged from one that
// changed.
func appliedSum(obj any) string {
	b, _ := json.Marshal(obj) // the typed objects applied always marshal
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// byKey indexes items by namespace/name, pointing into the slice.
func byKey[T any, P interface {
	*T
	GetNamespace() string
	GetName() string
}](items []T) map[string]*T {
	m := make(map[string]*T, len(items))
	for i := range items {
		p := P(&items[i])
		m[key(p.GetNamespace(), p.GetName())] = &items[i]
	}
	return m
}

// fill writes the objects into st, sorted.
func (o *objects) fill(st *State) {
	st.Deployments = sortedValues(o.deployments, func(d *appsv1.Deployment) appsv1.Deployment { return *d })
	st.Services = sortedValues(o.services, func(s *corev1.Service) corev1.Service { return *s })
	st.Canaries = sortedValues(o.canaries, func(c *v1beta1.Canary) v1beta1.Canary { return *c })
	st.MetricTemplates = sortedValues(o.templates, func(t *v1beta1.MetricTemplate) v1beta1.MetricTemplate { return *t })
	st.AlertProviders = sortedValues(o.providers, func(p *v1beta1.AlertProvider) v1beta1.AlertProvider { return *p })
	st.Routes = maps.Clone(o.routes)
	st.Applied = maps.Clone(o.applied)
}

func sortedValues[P any, V any](m map[string]P, f func(P) V) []V {
	out := make([]V, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, f(m[k]))
	}
	return out
}

// canaryFor returns the Canary whose target or primary is the Deployment
// ns/name, if any.
func (o *objects) canaryFor(ns, name string) *v1beta1.Canary {
	for _, c := range o.canaries {
		if c.Namespace == ns && (c.Spec.TargetRef.Name == name || wlocal.PrimaryName(c) == name) {
			return c
		}
	}
	return nil
}

// canaryOfService returns the Canary whose apex Service is ns/name.
func (o *objects) canaryOfService(ns, name string) *v1beta1.Canary {
	for _, c := range o.canaries {
		if c.Namespace == ns && c.ServiceName() == name {
			return c
		}
	}
	return nil
}

// selects reports whether a Service selects the pods of a Deployment, as
// Kubernetes matches a Service's selector against pod labels. A Service
// without a selector selects nothing.
func selects(s *corev1.Service, d *appsv1.Deployment) bool {
	if len(s.Spec.Selector) == 0 || s.Namespace != d.Namespace {
		return false
	}
	return labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))
}

// defaultNamespace is the namespace of objects that name none.
const defaultNamespace = "default"

// applyObject stores one object and reports what changed.
func (o *objects) applyObject(obj any) (kind, name string, changed bool, err error) {
	switch v := obj.(type) {
	case *appsv1.Deployment:
		d := v.DeepCopy()
		defaultMeta(&d.ObjectMeta)
		if d.Spec.Replicas == nil {
			one := int32(1)
			d.Spec.Replicas = &one
		}
		k := key(d.Namespace, d.Name)
		old := o.deployments[k]
		if old != nil {
			if c := o.canaryFor(d.Namespace, d.Name); c != nil && c.Spec.TargetRef.Name == d.Name && c.Status.Phase != "" {
				d.Spec.Replicas = old.Spec.Replicas // the Canary owns the target's scale
			}
			if equality.Semantic.DeepEqual(old.Spec, d.Spec) && equality.Semantic.DeepEqual(old.Labels, d.Labels) {
				return "deployment", d.Name, false, nil
			}
			d.Generation = old.Generation + 1
			d.CreationTimestamp = old.CreationTimestamp
		} else {
			d.Generation = 1
		}
		o.deployments[k] = d
		return "deployment", d.Name, true, nil
	case *corev1.Service:
		s := v.DeepCopy()
		defaultMeta(&s.ObjectMeta)
		k := key(s.Namespace, s.Name)
		if old := o.services[k]; old != nil && equality.Semantic.DeepEqual(old.Spec, s.Spec) {
			return "service", s.Name, false, nil
		}
		o.services[k] = s
		return "service", s.Name, true, nil
	case *v1beta1.Canary:
		c := v.DeepCopy()
		defaultMeta(&c.ObjectMeta)
		k := key(c.Namespace, c.Name)
		if old := o.canaries[k]; old != nil {
			c.Status = old.Status
			c.Generation = old.Generation
			c.DeletionTimestamp = old.DeletionTimestamp // a deletion under way goes on
			if equality.Semantic.DeepEqual(old.Spec, c.Spec) {
				return "canary", c.Name, false, nil
			}
			c.Generation++
		} else {
			c.Generation = 1
		}
		o.canaries[k] = c
		o.ensureApex(c)
		return "canary", c.Name, true, nil
	case *v1beta1.MetricTemplate:
		t := v.DeepCopy()
		defaultMeta(&t.ObjectMeta)
		o.templates[key(t.Namespace, t.Name)] = t
		return "metrictemplate", t.Name, true, nil
	case *v1beta1.AlertProvider:
		p := v.DeepCopy()
		defaultMeta(&p.ObjectMeta)
		o.providers[key(p.Namespace, p.Name)] = p
		return "alertprovider", p.Name, true, nil
	default:
		return "", "", false, fmt.Errorf("kind %T: not supported by the local runtime", obj)
	}
}

// ensureApex creates the apex Service of a Canary when no Service has its
// name, as Flagger does, and keeps the port of one it made at the
// Canary's spec.service.port.
func (o *objects) ensureApex(c *v1beta1.Canary) {
	k := key(c.Namespace, c.ServiceName())
	if old, ok := o.services[k]; ok {
		if old.Annotations[canaryAnnotation] == c.Name && (len(old.Spec.Ports) != 1 || old.Spec.Ports[0].Port != c.Spec.Service.Port) {
			s := old.DeepCopy()
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: c.Spec.Service.Port}}
			o.services[k] = s
		}
		return
	}
	s := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.ServiceName(), Namespace: c.Namespace,
			Annotations: map[string]string{canaryAnnotation: c.Name},
		},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: c.Spec.Service.Port}}},
	}
	o.services[k] = s
}

func defaultMeta(m *metav1.ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = defaultNamespace
	}
}

// deleteObject removes one object other than a Canary (see
// Runtime.deleteCanaryLocked).
func (o *objects) deleteObject(kind, ns, name string) bool {
	k := key(ns, name)
	kind = strings.ToLower(kind)
	delete(o.applied, objectKey(kind, ns, name))
	switch kind {
	case "deployment":
		_, ok := o.deployments[k]
		delete(o.deployments, k)
		return ok
	case "service":
		_, ok := o.services[k]
		delete(o.services, k)
		return ok
	case "metrictemplate":
		_, ok := o.templates[k]
		delete(o.templates, k)
		return ok
	case "alertprovider":
		_, ok := o.providers[k]
		delete(o.providers, k)
		return ok
	}
	return false
}

// KindOf returns the lower-case kind of a typed object, or "".
func KindOf(obj any) (kind, namespace, name string) {
	switch v := obj.(type) {
	case *appsv1.Deployment:
		return "deployment", v.Namespace, v.Name
	case *corev1.Service:
		return "service", v.Namespace, v.Name
	case *v1beta1.Canary:
		return "canary", v.Namespace, v.Name
	case *v1beta1.MetricTemplate:
		return "metrictemplate", v.Namespace, v.Name
	case *v1beta1.AlertProvider:
		return "alertprovider", v.Namespace, v.Name
	}
	return "", "", ""
}
