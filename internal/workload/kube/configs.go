package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TrackingAnnotation set to "disabled" on a ConfigMap or Secret keeps it out
// of the revision and stops it being copied for the primary.
const TrackingAnnotation = "serin.dev/config-tracking"

// flaggerTrackingAnnotation is Flagger's name for TrackingAnnotation.
const flaggerTrackingAnnotation = "flagger.app/config-tracking"

// configKind is the kind of a tracked config.
type configKind string

const (
	configMapKind configKind = "configmap"
	secretKind    configKind = "secret"
)

// configRef is a ConfigMap or Secret referenced by a pod template.
type configRef struct {
	Kind     configKind
	Name     string
	Optional bool
}

// key is the configRef's key in status.trackedConfigs.
func (r configRef) key() string { return string(r.Kind) + "/" + r.Name }

// configRefs lists the ConfigMaps and Secrets a pod spec references through
// volumes, projected volumes, envFrom and env, sorted and without repeats.
// A reference is optional only when every use of it is.
func configRefs(spec *corev1.PodSpec) []configRef {
	seen := map[string]*configRef{}
	add := func(k configKind, name string, optional *bool) {
		if name == "" {
			return
		}
		opt := optional != nil && *optional
		r := configRef{Kind: k, Name: name, Optional: opt}
		if prev, ok := seen[r.key()]; ok {
			prev.Optional = prev.Optional && opt
			return
		}
		seen[r.key()] = &r
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			add(configMapKind, v.ConfigMap.Name, v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			add(secretKind, v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(configMapKind, s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					add(secretKind, s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add(configMapKind, e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
			}
			if e.SecretRef != nil {
				add(secretKind, e.SecretRef.Name, e.SecretRef.Optional)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(configMapKind, r.Name, r.Optional)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(secretKind, r.Name, r.Optional)
			}
		}
	}
	out := make([]configRef, 0, len(seen))
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, *seen[k])
	}
	return out
}

// trackedConfig is a tracked ConfigMap or Secret as read.
type trackedConfig struct {
	ref    configRef
	object client.Object // *corev1.ConfigMap or *corev1.Secret
	hash   string
}

// readConfigs reads the configs spec references. Missing optional configs
// and configs with tracking disabled are left out; a missing required one
// is an error.
func readConfigs(ctx context.Context, c client.Reader, ns string, spec *corev1.PodSpec) ([]trackedConfig, error) {
	var out []trackedConfig
	for _, ref := range configRefs(spec) {
		var obj client.Object
		var data map[string][]byte
		switch ref.Kind {
		case configMapKind:
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, cm); err != nil {
				if apierrors.IsNotFound(err) && ref.Optional {
					continue
				}
				return nil, fmt.Errorf("read configmap %s/%s: %w", ns, ref.Name, err)
			}
			obj = cm
			data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			maps.Copy(data, cm.BinaryData)
		case secretKind:
			s := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, s); err != nil {
				if apierrors.IsNotFound(err) && ref.Optional {
					continue
				}
				return nil, fmt.Errorf("read secret %s/%s: %w", ns, ref.Name, err)
			}
			obj = s
			data = maps.Clone(s.Data)
			for k, v := range s.StringData {
				data[k] = []byte(v)
			}
		}
		a := obj.GetAnnotations()
		if a[TrackingAnnotation] == "disabled" || a[flaggerTrackingAnnotation] == "disabled" {
			continue
		}
		out = append(out, trackedConfig{ref: ref, object: obj, hash: hashData(data)})
	}
	return out, nil
}

// hashData hashes a config's data, independent of map order.
func hashData(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// renameConfigRefs points the tracked references of spec at the primary
// copies.
func renameConfigRefs(spec *corev1.PodSpec, tracked []trackedConfig) {
	is := map[string]bool{}
	for _, t := range tracked {
		is[t.ref.key()] = true
	}
	rename := func(k configKind, name *string) {
		if is[configRef{Kind: k, Name: *name}.key()] {
			*name += PrimarySuffix
		}
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil {
			rename(configMapKind, &v.ConfigMap.Name)
		}
		if v.Secret != nil {
			rename(secretKind, &v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					rename(configMapKind, &s.ConfigMap.Name)
				}
				if s.Secret != nil {
					rename(secretKind, &s.Secret.Name)
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			c := &cs[i]
			for j := range c.EnvFrom {
				if r := c.EnvFrom[j].ConfigMapRef; r != nil {
					rename(configMapKind, &r.Name)
				}
				if r := c.EnvFrom[j].SecretRef; r != nil {
					rename(secretKind, &r.Name)
				}
			}
			for j := range c.Env {
				if c.Env[j].ValueFrom == nil {
					continue
				}
				if r := c.Env[j].ValueFrom.ConfigMapKeyRef; r != nil {
					rename(configMapKind, &r.Name)
				}
				if r := c.Env[j].ValueFrom.SecretKeyRef; r != nil {
					rename(secretKind, &r.Name)
				}
			}
		}
	}
}

// primaryConfig returns the primary copy of a tracked config.
func primaryConfig(t trackedConfig) client.Object {
	switch o := t.object.(type) {
	case *corev1.ConfigMap:
		cp := &corev1.ConfigMap{Data: o.Data, BinaryData: o.BinaryData, Immutable: o.Immutable}
		cp.Name, cp.Namespace = o.Name+PrimarySuffix, o.Namespace
		cp.Labels, cp.Annotations = maps.Clone(o.Labels), maps.Clone(o.Annotations)
		return cp
	case *corev1.Secret:
		cp := &corev1.Secret{Data: o.Data, StringData: o.StringData, Type: o.Type, Immutable: o.Immutable}
		cp.Name, cp.Namespace = o.Name+PrimarySuffix, o.Namespace
		cp.Labels, cp.Annotations = maps.Clone(o.Labels), maps.Clone(o.Annotations)
		return cp
	}
	return nil
}
