package kube

import (
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/serinhq/serin/api/v1beta1"
)

func podinfo() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "podinfo", Namespace: "test", Generation: 2,
			Labels:      map[string]string{"app": "podinfo", "team": "a"},
			Annotations: map[string]string{lastApplied: "{}", "note": "kept"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo", "version": "1"}},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{
						{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}},
						{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "podinfo-secret", Optional: ptr.To(true)}}},
					},
					Containers: []corev1.Container{{
						Name:  "podinfod",
						Image: "quay.io/stefanprodan/podinfo:1.7.0",
						EnvFrom: []corev1.EnvFromSource{
							{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-env"}}},
						},
						Env: []corev1.EnvVar{
							{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-secret"}, Key: "token"}}},
							{Name: "UNTRACKED", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "untracked"}, Key: "k"}}},
						},
					}},
				},
			},
		},
	}
}

func canary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
}

func TestConfigRefs(t *testing.T) {
	d := podinfo()
	got := configRefs(&d.Spec.Template.Spec)
	want := []configRef{
		{Kind: configMapKind, Name: "podinfo-config"},
		{Kind: configMapKind, Name: "podinfo-env"},
		{Kind: configMapKind, Name: "untracked"},
		// Optional in the volume but required by the env var.
		{Kind: secretKind, Name: "podinfo-secret"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("configRefs:\n got %+v\nwant %+v", got, want)
	}
}

func tracked(refs ...configRef) []trackedConfig {
	var out []trackedConfig
	for _, r := range refs {
		out = append(out, trackedConfig{ref: r, hash: "h-" + r.Name})
	}
	return out
}

func TestBuildPrimary(t *testing.T) {
	target := podinfo()
	p, err := New(nil, Options{IncludeLabelPrefixes: []string{"*"}}).buildPrimary(canary(), target, tracked(
		configRef{Kind: configMapKind, Name: "podinfo-config"},
		configRef{Kind: configMapKind, Name: "podinfo-env"},
		configRef{Kind: secretKind, Name: "podinfo-secret"},
	))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "podinfo-primary" || p.Namespace != "test" {
		t.Errorf("name = %s/%s, want test/podinfo-primary", p.Namespace, p.Name)
	}
	if got := p.Spec.Selector.MatchLabels; len(got) != 1 || got["app"] != "podinfo-primary" {
		t.Errorf("selector = %v, want app=podinfo-primary", got)
	}
	if got := p.Spec.Template.Labels; got["app"] != "podinfo-primary" || got["version"] != "1" {
		t.Errorf("template labels = %v", got)
	}
	if got := p.Labels; got["app"] != "podinfo-primary" || got["team"] != "a" {
		t.Errorf("labels = %v", got)
	}
	if _, ok := p.Annotations[lastApplied]; ok || p.Annotations["note"] != "kept" {
		t.Errorf("annotations = %v", p.Annotations)
	}
	if *p.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *p.Spec.Replicas)
	}
	spec := p.Spec.Template.Spec
	if got := spec.Volumes[0].ConfigMap.Name; got != "podinfo-config-primary" {
		t.Errorf("configmap volume = %s", got)
	}
	if got := spec.Volumes[1].Secret.SecretName; got != "podinfo-secret-primary" {
		t.Errorf("secret volume = %s", got)
	}
	c := spec.Containers[0]
	if got := c.EnvFrom[0].ConfigMapRef.Name; got != "podinfo-env-primary" {
		t.Errorf("envFrom = %s", got)
	}
	if got := c.Env[0].ValueFrom.SecretKeyRef.Name; got != "podinfo-secret-primary" {
		t.Errorf("env secret = %s", got)
	}
	if got := c.Env[1].ValueFrom.ConfigMapKeyRef.Name; got != "untracked" {
		t.Errorf("untracked configmap renamed to %s", got)
	}
	// The target is left alone.
	if got := target.Spec.Template.Spec.Volumes[0].ConfigMap.Name; got != "podinfo-config" {
		t.Errorf("target changed: %s", got)
	}
	if target.Spec.Template.Labels["app"] != "podinfo" {
		t.Errorf("target labels changed: %v", target.Spec.Template.Labels)
	}
}

func TestBuildPrimaryNeedsSelectorLabel(t *testing.T) {
	d := podinfo()
	d.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
	if _, err := New(nil, Options{IncludeLabelPrefixes: []string{"*"}}).buildPrimary(canary(), d, nil); err == nil {
		t.Fatal("want an error for a selector without app, name or app.kubernetes.io/name")
	}
}

func TestRevision(t *testing.T) {
	d := podinfo()
	cfg := tracked(configRef{Kind: configMapKind, Name: "podinfo-config"})
	base, err := revision(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := revision(podinfo(), cfg)
	if base != again {
		t.Errorf("revision not stable: %s != %s", base, again)
	}
	scaled := podinfo()
	scaled.Spec.Replicas = ptr.To[int32](0)
	if r, _ := revision(scaled, cfg); r != base {
		t.Errorf("scaling changed the revision")
	}
	image := podinfo()
	image.Spec.Template.Spec.Containers[0].Image = "quay.io/stefanprodan/podinfo:1.7.1"
	if r, _ := revision(image, cfg); r == base {
		t.Errorf("new image kept the revision")
	}
	cfg2 := []trackedConfig{{ref: cfg[0].ref, hash: "other"}}
	if r, _ := revision(d, cfg2); r == base {
		t.Errorf("new config data kept the revision")
	}
}

func TestHashData(t *testing.T) {
	a := hashData(map[string][]byte{"a": []byte("bc"), "d": []byte("")})
	b := hashData(map[string][]byte{"ab": []byte("c"), "d": []byte("")})
	if a == b {
		t.Error("keys and values must not run together")
	}
	if a != hashData(map[string][]byte{"d": []byte(""), "a": []byte("bc")}) {
		t.Error("hash depends on map order")
	}
}

func TestReadiness(t *testing.T) {
	d := podinfo()
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 3, ReadyReplicas: 2}
	if got := readiness(d); got.Desired != 3 || got.Updated != 3 || got.Ready != 2 || got.Reason != "" {
		t.Errorf("readiness = %+v", got)
	}
	d.Status.ObservedGeneration = 1
	if got := readiness(d); got.Updated != 0 || got.Reason == "" {
		t.Errorf("stale status counted as updated: %+v", got)
	}
}

func TestServicePorts(t *testing.T) {
	c := canary()
	got := servicePorts(c)
	if len(got) != 1 || got[0].Name != "http" || got[0].Port != 9898 || got[0].TargetPort != intstr.FromInt32(9898) {
		t.Errorf("ports = %+v", got)
	}
	c.Spec.Service.PortName = "grpc"
	c.Spec.Service.TargetPort = intstr.FromString("grpc")
	got = servicePorts(c)
	if got[0].Name != "grpc" || got[0].TargetPort != intstr.FromString("grpc") {
		t.Errorf("ports = %+v", got)
	}
	merged := mergePorts([]corev1.ServicePort{{Name: "grpc", Port: 9898, NodePort: 30001}, {Name: "metrics", Port: 9797}}, got)
	if len(merged) != 2 || merged[0].NodePort != 30001 || merged[1].Name != "metrics" {
		t.Errorf("merged = %+v", merged)
	}
}

// TestFlaggerWorkloadOptions checks Flagger's -selector-labels and
// -include-label-prefix.
func TestFlaggerWorkloadOptions(t *testing.T) {
	target := podinfo()
	target.Labels["app.kubernetes.io/part-of"] = "demo"
	for _, tc := range []struct {
		name     string
		prefixes []string
		want     map[string]string
	}{
		{"none, Flagger's default", nil, map[string]string{"app": "podinfo-primary"}},
		{"one prefix", []string{"app.kubernetes.io"}, map[string]string{"app": "podinfo-primary", "app.kubernetes.io/part-of": "demo"}},
		{"all", []string{"*"}, map[string]string{"app": "podinfo-primary", "app.kubernetes.io/part-of": "demo", "team": "a"}},
	} {
		p, err := New(nil, Options{IncludeLabelPrefixes: tc.prefixes}).buildPrimary(canary(), target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(p.Labels, tc.want) {
			t.Errorf("%s: primary labels %v, want %v", tc.name, p.Labels, tc.want)
		}
	}

	d := podinfo()
	d.Spec.Selector.MatchLabels = map[string]string{"tier": "web", "app": "podinfo"}
	d.Spec.Template.Labels["tier"] = "web"
	p, err := New(nil, Options{SelectorLabels: []string{"tier", "app"}}).buildPrimary(canary(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Selector.MatchLabels; len(got) != 1 || got["tier"] != "podinfo-primary" {
		t.Errorf("selector with -selector-labels=tier,app: %v, want tier=podinfo-primary", got)
	}
	d.Spec.Selector.MatchLabels = map[string]string{"app": "podinfo"}
	if _, err := New(nil, Options{SelectorLabels: []string{"tier"}}).buildPrimary(canary(), d, nil); err == nil || !strings.Contains(err.Error(), "[tier]") {
		t.Errorf("selector without the -selector-labels: error %v, want one naming [tier]", err)
	}
}

// TestConfigTrackingDisabled checks Flagger's -enable-config-tracking=false:
// no config is read (the client is nil), so none is part of the revision
// or copied for the primary.
func TestConfigTrackingDisabled(t *testing.T) {
	w := New(nil, Options{DisableConfigTracking: true})
	tracked, err := w.readConfigs(t.Context(), "test", &podinfo().Spec.Template.Spec)
	if err != nil || tracked != nil {
		t.Fatalf("readConfigs = %v, %v; want nothing", tracked, err)
	}
}

func TestIsRevision(t *testing.T) {
	d := &appsv1.Deployment{}
	rev, err := revision(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		rev:                true,
		"7dc9f5b8b4":       false, // Flagger's: a short hash
		"":                 false,
		"0123456789abcdeg": false,
		"0123456789ABCDEF": false,
	} {
		if got := IsRevision(s); got != want {
			t.Errorf("IsRevision(%q) = %v, want %v", s, got, want)
		}
	}
}
