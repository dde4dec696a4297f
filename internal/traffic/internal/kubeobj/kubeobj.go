// Package kubeobj creates or updates the route objects of serin's
// Kubernetes routers: owned by their Canary, labelled with the apex
// metadata, and written only when something changed.
package kubeobj

import (
	"context"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/serinhq/serin/api/v1beta1"
)

// Apply makes the object named by obj's namespace and name what mutate
// makes of it, owned by c: it creates the object when missing and updates
// it only when mutate (or the ownership and apex metadata) changed it, so
// that calling Apply again with the same input writes nothing. mutate
// sets the spec on the object as read from the API server (or on obj as
// passed, when creating).
func Apply(ctx context.Context, cl client.Client, c *v1beta1.Canary, obj client.Object, mutate func() error) (controllerutil.OperationResult, error) {
	if c.UID == "" {
		return controllerutil.OperationResultNone, fmt.Errorf("canary %s/%s has no uid: it must be read from the API server", c.Namespace, c.Name)
	}
	return controllerutil.CreateOrUpdate(ctx, cl, obj, func() error {
		SetOwner(c, obj)
		if m := c.Spec.Service.Apex; m != nil {
			obj.SetLabels(merge(obj.GetLabels(), m.Labels))
			obj.SetAnnotations(merge(obj.GetAnnotations(), m.Annotations))
		}
		return mutate()
	})
}

// SetOwner makes c the controller of obj. A controller reference to
// another object (such as a Flagger Canary the release was migrated from)
// is replaced; other owner references are kept.
func SetOwner(c *v1beta1.Canary, obj metav1.Object) {
	ref := c.ControllerRef()
	refs := obj.GetOwnerReferences()
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	found := false
	for _, r := range refs {
		switch {
		case r.UID == c.UID:
			if !found {
				out = append(out, ref)
				found = true
			}
		case ptr.Deref(r.Controller, false):
			// Taken over by c.
		default:
			out = append(out, r)
		}
	}
	if !found {
		out = append(out, ref)
	}
	obj.SetOwnerReferences(out)
}

// merge returns dst with src's entries added; dst is returned unchanged
// (not copied) when src adds nothing new.
func merge(dst, src map[string]string) map[string]string {
	changed := false
	for k, v := range src {
		if cur, ok := dst[k]; !ok || cur != v {
			changed = true
			break
		}
	}
	if !changed {
		return dst
	}
	out := maps.Clone(dst)
	if out == nil {
		out = make(map[string]string, len(src))
	}
	maps.Copy(out, src)
	return out
}
