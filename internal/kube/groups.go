package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
)

// APIGroups are the groups whose Canaries the controller can reconcile:
// serin's and Flagger's.
var APIGroups = []string{v1beta1.Group, v1beta1.FlaggerGroup}

// resolveGroups returns the groups to reconcile. want names them (the
// --api-groups flag); each must have its Canary CRD installed. Empty
// wants every group whose CRD is installed, and at least one must be.
func resolveGroups(mapper meta.RESTMapper, want []string, log *slog.Logger) ([]string, error) {
	for _, g := range want {
		if !slices.Contains(APIGroups, g) {
			return nil, fmt.Errorf("api group %q: want %s", g, strings.Join(APIGroups, " or "))
		}
	}
	var out []string
	for _, g := range APIGroups {
		if len(want) > 0 && !slices.Contains(want, g) {
			continue
		}
		_, err := mapper.RESTMapping(schema.GroupKind{Group: g, Kind: "Canary"}, "v1beta1")
		switch {
		case err == nil:
			out = append(out, g)
		case !meta.IsNoMatchError(err):
			return nil, fmt.Errorf("look up canaries.%s: %w", g, err)
		case len(want) > 0:
			return nil, fmt.Errorf("api group %s: the CustomResourceDefinition canaries.%s (v1beta1) is not installed", g, g)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no Canary CustomResourceDefinition is installed: apply deploy/crds (serin.dev) or Flagger's CRDs (flagger.app)")
	}
	log.Info("reconciling Canaries", "apiGroups", out)
	return out, nil
}

// The Reconciler reads and writes Canaries of its Group through the typed
// objects of that group, and hands the engine serin's type, which a
// pointer conversion gives without copying. The Canary handed over has its
// apiVersion and kind set, so that what the engine creates is owned by
// the right group (v1beta1.Canary.ControllerRef).

func (r *Reconciler) flagger() bool { return r.Group == v1beta1.FlaggerGroup }

// group is r's group, serin.dev when unset.
func (r *Reconciler) group() string {
	if r.flagger() {
		return v1beta1.FlaggerGroup
	}
	return v1beta1.Group
}

// newObject returns an empty Canary of r's group.
func (r *Reconciler) newObject() client.Object {
	if r.flagger() {
		return &flaggerv1beta1.Canary{}
	}
	return &v1beta1.Canary{}
}

// canary returns obj, a Canary of r's group, as serin's type, sharing its
// memory, with apiVersion and kind set.
func (r *Reconciler) canary(obj client.Object) *v1beta1.Canary {
	var c *v1beta1.Canary
	gv := v1beta1.GroupVersion.String()
	switch o := obj.(type) {
	case *flaggerv1beta1.Canary:
		c, gv = (*v1beta1.Canary)(o), v1beta1.FlaggerGroupVersion
	case *v1beta1.Canary:
		c = o
	default:
		panic(fmt.Sprintf("kube: %T is not a Canary", obj))
	}
	c.APIVersion, c.Kind = gv, "Canary"
	return c
}

// object returns c as an object of r's group, sharing its memory.
func (r *Reconciler) object(c *v1beta1.Canary) client.Object {
	if r.flagger() {
		return (*flaggerv1beta1.Canary)(c)
	}
	return c
}

// get reads the Canary key names through rd.
func (r *Reconciler) get(ctx context.Context, rd client.Reader, key client.ObjectKey) (*v1beta1.Canary, error) {
	obj := r.newObject()
	if err := rd.Get(ctx, key, obj); err != nil {
		return nil, err
	}
	return r.canary(obj), nil
}

// listCanaries lists the Canaries of group through rd.
func listCanaries(ctx context.Context, rd client.Reader, group string, opts ...client.ListOption) ([]client.Object, error) {
	var l client.ObjectList = &v1beta1.CanaryList{}
	if group == v1beta1.FlaggerGroup {
		l = &flaggerv1beta1.CanaryList{}
	}
	if err := rd.List(ctx, l, opts...); err != nil {
		return nil, err
	}
	var out []client.Object
	err := meta.EachListItem(l, func(o runtime.Object) error {
		out = append(out, o.(client.Object))
		return nil
	})
	return out, err
}

// targetName is the name of the target of obj, a Canary of either group,
// read without modifying it (it may be the informer cache's).
func targetName(obj client.Object) string {
	switch o := obj.(type) {
	case *flaggerv1beta1.Canary:
		return o.Spec.TargetRef.Name
	case *v1beta1.Canary:
		return o.Spec.TargetRef.Name
	}
	return ""
}

// groupTemplates returns the MetricTemplate lookup of a group: a Canary's
// templateRef names a MetricTemplate of the Canary's own group.
func groupTemplates(c client.Reader, group string) func(ctx context.Context, ns, name string) (*v1beta1.MetricTemplate, error) {
	return groupLookup(c, func() (client.Object, func() *v1beta1.MetricTemplate) {
		if group == v1beta1.FlaggerGroup {
			t := &flaggerv1beta1.MetricTemplate{}
			return t, func() *v1beta1.MetricTemplate { return (*v1beta1.MetricTemplate)(t) }
		}
		t := &v1beta1.MetricTemplate{}
		return t, func() *v1beta1.MetricTemplate { return t }
	})
}

// groupProviders returns the AlertProvider lookup of a group, as
// groupTemplates.
func groupProviders(c client.Reader, group string) func(ctx context.Context, ns, name string) (*v1beta1.AlertProvider, error) {
	return groupLookup(c, func() (client.Object, func() *v1beta1.AlertProvider) {
		if group == v1beta1.FlaggerGroup {
			p := &flaggerv1beta1.AlertProvider{}
			return p, func() *v1beta1.AlertProvider { return (*v1beta1.AlertProvider)(p) }
		}
		p := &v1beta1.AlertProvider{}
		return p, func() *v1beta1.AlertProvider { return p }
	})
}

// groupLookup reads an object by namespace and name through c: newObject
// returns an empty object of the group to read into, and a function that
// returns it as serin's type.
func groupLookup[T any](c client.Reader, newObject func() (client.Object, func() *T)) func(ctx context.Context, ns, name string) (*T, error) {
	return func(ctx context.Context, ns, name string) (*T, error) {
		obj, serin := newObject()
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			return nil, err
		}
		return serin(), nil
	}
}
