package local

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// fakeCluster is an in-memory Cluster for the Workload's pure logic.
type fakeCluster struct {
	deps   map[string]*appsv1.Deployment
	ready  map[string]rollout.Readiness
	splits map[string]rollout.Routes
}

func (f *fakeCluster) Deployment(ns, name string) (*appsv1.Deployment, bool) {
	d, ok := f.deps[name]
	if !ok {
		return nil, false
	}
	return d.DeepCopy(), true
}

func (f *fakeCluster) PutDeployment(d *appsv1.Deployment) error {
	f.deps[d.Name] = d.DeepCopy()
	return nil
}

func (f *fakeCluster) Readiness(ns, name string) rollout.Readiness { return f.ready[name] }

func (f *fakeCluster) DeleteDeployment(ns, name string) error {
	delete(f.deps, name)
	return nil
}

func (f *fakeCluster) SetSplit(ns, canary string, r rollout.Routes) error {
	if f.splits == nil {
		f.splits = map[string]rollout.Routes{}
	}
	f.splits[canary] = r
	return nil
}

func target(image string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo", "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: image}}},
			},
		},
	}
}

func TestWorkloadLifecycle(t *testing.T) {
	ctx := context.Background()
	c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"}}}
	fc := &fakeCluster{deps: map[string]*appsv1.Deployment{"podinfo": target("podinfo:1.7.0", 2)}, ready: map[string]rollout.Readiness{
		"podinfo": {Desired: 2, Updated: 2, Ready: 1, Reason: "probe failed"},
	}}
	w := New(fc)

	st, err := w.Observe(ctx, c)
	if err != nil || !st.TargetFound || st.PrimaryFound || st.Target.Ready != 1 || st.Target.Reason != "probe failed" {
		t.Fatalf("Observe before init = %+v, %v", st, err)
	}
	rev170 := st.TargetRevision

	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.InitPrimary}); err != nil {
		t.Fatal(err)
	}
	p := fc.deps["podinfo-primary"]
	if p == nil || *p.Spec.Replicas != 2 || p.Spec.Selector.MatchLabels["app"] != "podinfo-primary" ||
		p.Spec.Template.Labels["app"] != "podinfo-primary" || p.Spec.Template.Labels["tier"] != "web" {
		t.Fatalf("primary = %+v", p)
	}
	if fc.deps["podinfo"].Spec.Selector.MatchLabels["app"] != "podinfo" {
		t.Fatal("InitPrimary changed the target's selector")
	}

	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.ScaleCanaryDown}); err != nil || *fc.deps["podinfo"].Spec.Replicas != 0 {
		t.Fatalf("ScaleCanaryDown: replicas %d, %v", *fc.deps["podinfo"].Spec.Replicas, err)
	}
	fc.deps["podinfo"].Spec.Template.Spec.Containers[0].Image = "podinfo:1.7.1"
	st, _ = w.Observe(ctx, c)
	if st.TargetRevision == rev170 || !st.PrimaryFound {
		t.Fatalf("a new image must be a new revision: %+v", st)
	}
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.ScaleCanaryUp}); err != nil || *fc.deps["podinfo"].Spec.Replicas != 2 {
		t.Fatalf("ScaleCanaryUp: replicas %d, %v; want the primary's 2", *fc.deps["podinfo"].Spec.Replicas, err)
	}
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.PromotePrimary}); err != nil {
		t.Fatal(err)
	}
	p = fc.deps["podinfo-primary"]
	if p.Spec.Template.Spec.Containers[0].Image != "podinfo:1.7.1" || p.Spec.Template.Labels["app"] != "podinfo-primary" || *p.Spec.Replicas != 2 {
		t.Fatalf("promoted primary = %+v", p.Spec)
	}
	if err := w.Apply(ctx, c, rollout.Action{Type: "Bogus"}); err == nil {
		t.Error("unknown action: want an error")
	}
}

func TestBuildPrimaryNeedsSelectorLabel(t *testing.T) {
	d := target("x", 1)
	d.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
	c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"}}}
	if _, err := BuildPrimary(c, d); err == nil {
		t.Error("a selector without app, name or app.kubernetes.io/name: want an error")
	}
}

func TestRevisionIsStable(t *testing.T) {
	a, b := target("x:1", 1), target("x:1", 3)
	if Revision(&a.Spec.Template) != Revision(&b.Spec.Template) {
		t.Error("replicas must not change the revision")
	}
	b.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "K", Value: "v"}}
	if Revision(&a.Spec.Template) == Revision(&b.Spec.Template) {
		t.Error("env must change the revision")
	}
}

// TestWorkloadRestoreTarget: RestoreTarget scales the target to the
// primary's replicas, and only once they are ready sends all traffic to
// the target and removes the primary.
func TestWorkloadRestoreTarget(t *testing.T) {
	ctx := context.Background()
	c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"}, RevertOnDeletion: true}}
	fc := &fakeCluster{deps: map[string]*appsv1.Deployment{"podinfo": target("podinfo:1.7.0", 3)}, ready: map[string]rollout.Readiness{}}
	w := New(fc)
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.InitPrimary}); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.ScaleCanaryDown}); err != nil {
		t.Fatal(err)
	}

	restore := rollout.Action{Type: rollout.RestoreTarget}
	fc.ready["podinfo"] = rollout.Readiness{Desired: 3, Updated: 3, Ready: 2}
	if err := w.Apply(ctx, c, restore); err != nil {
		t.Fatal(err)
	}
	if got := *fc.deps["podinfo"].Spec.Replicas; got != 3 {
		t.Errorf("target replicas = %d, want the primary's 3", got)
	}
	if _, ok := fc.deps["podinfo-primary"]; !ok {
		t.Error("primary removed before the target was ready")
	}
	if _, ok := fc.splits["podinfo"]; ok {
		t.Error("traffic moved before the target was ready")
	}

	fc.ready["podinfo"] = rollout.Readiness{Desired: 3, Updated: 3, Ready: 3}
	if err := w.Apply(ctx, c, restore); err != nil {
		t.Fatal(err)
	}
	if r := fc.splits["podinfo"]; r.CanaryWeight != 100 || r.PrimaryWeight != 0 {
		t.Errorf("split = %+v, want all traffic to the target", r)
	}
	if _, ok := fc.deps["podinfo-primary"]; ok {
		t.Error("primary still there once the target is ready")
	}
	if err := w.Apply(ctx, c, restore); err != nil {
		t.Errorf("RestoreTarget again: %v, want idempotent", err)
	}
}
