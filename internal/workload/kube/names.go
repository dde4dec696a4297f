package kube

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

// PrimarySuffix is appended to the name of every primary copy.
const PrimarySuffix = "-primary"

// CanarySuffix is appended to the apex Service's name for the Service that
// selects the target's pods.
const CanarySuffix = "-canary"

// PrimaryName is the name of the primary Deployment of c.
func PrimaryName(c *v1beta1.Canary) string { return c.Spec.TargetRef.Name + PrimarySuffix }

// ServiceName is the name of the apex Service of c.
func ServiceName(c *v1beta1.Canary) string {
	if c.Spec.Service.Name != "" {
		return c.Spec.Service.Name
	}
	return c.Spec.TargetRef.Name
}

// selectorLabel returns the key and value of the label that selects the
// target's pods: the first of keys (Flagger's -selector-labels) in its
// selector.
func selectorLabel(d *appsv1.Deployment, keys []string) (string, string, error) {
	if d.Spec.Selector == nil {
		return "", "", fmt.Errorf("deployment %s: spec.selector is empty", d.Name)
	}
	for _, k := range keys {
		if v, ok := d.Spec.Selector.MatchLabels[k]; ok {
			return k, v, nil
		}
	}
	return "", "", fmt.Errorf("deployment %s: spec.selector.matchLabels must hold one of the labels %v", d.Name, keys)
}

// includedLabels returns the labels whose key starts with one of prefixes
// ("*" matches all).
func includedLabels(labels map[string]string, prefixes []string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		for _, p := range prefixes {
			if p == "*" || strings.HasPrefix(k, p) {
				out[k] = v
				break
			}
		}
	}
	return out
}

// setController makes c the controller of obj, an object about to be
// created, with a reference to c's group (see v1beta1.Canary.ControllerRef).
func setController(c *v1beta1.Canary, obj metav1.Object) {
	obj.SetOwnerReferences([]metav1.OwnerReference{c.ControllerRef()})
}
