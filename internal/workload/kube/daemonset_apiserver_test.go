package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/internal/rollout"
)

// TestDaemonSetOnAPIServer runs the workload actions of a DaemonSet target
// on a real API server with the DaemonSet controller and a kwok node: the
// primary DaemonSet runs a pod on the node, the canary is scaled to zero
// and back with the scale-to-zero node selector (which is not a new
// revision), and promotion copies the target's template.
func TestDaemonSetOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	// The test cluster's default controllers, and the DaemonSet one.
	cl, ns := startCluster(t, "daemonset", "--controllers=deployment,replicaset,endpointslice,namespace,garbagecollector,daemonset")
	ctx := t.Context()

	d := podinfo()
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Spec.Volumes = nil
	tmpl.Spec.Containers[0].Env, tmpl.Spec.Containers[0].EnvFrom = nil, nil
	target := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: map[string]string{"app": "podinfo"}},
		Spec:       appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: *tmpl},
	}
	c := canary()
	c.Namespace = ns
	c.Spec.TargetRef.Kind = "DaemonSet"
	for _, o := range []client.Object{target, c} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	w := New(cl, Options{})
	apply := func(a rollout.ActionType) {
		t.Helper()
		for range 2 { // idempotent
			if err := w.Apply(ctx, c, rollout.Action{Type: a}); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
		}
	}
	waitFor := func(what string, cond func(st rollout.WorkloadState) bool) rollout.WorkloadState {
		t.Helper()
		var st rollout.WorkloadState
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			st, err = w.Observe(ctx, c)
			if err == nil && cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v (%v)", what, st, err)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	st0 := waitFor("the target's pod", func(st rollout.WorkloadState) bool {
		return st.TargetFound && !st.PrimaryFound && st.Target.Desired == 1 && st.Target.Ready == 1
	})

	apply(rollout.InitPrimary)
	primary := &appsv1.DaemonSet{}
	get(t, cl, ns, "podinfo-primary", primary)
	if primary.Spec.Selector.MatchLabels["app"] != "podinfo-primary" || !metav1.IsControlledBy(primary, c) {
		t.Errorf("primary: selector %v, owners %v", primary.Spec.Selector.MatchLabels, primary.OwnerReferences)
	}
	for name, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		svc := &corev1.Service{}
		get(t, cl, ns, name, svc)
		if svc.Spec.Selector["app"] != sel {
			t.Errorf("service %s: selector %v, want app=%s", name, svc.Spec.Selector, sel)
		}
	}
	waitFor("the primary's pod", func(st rollout.WorkloadState) bool {
		return st.PrimaryFound && st.Primary.Ready == 1 && st.Primary.Updated == 1
	})

	apply(rollout.ScaleCanaryDown)
	st := waitFor("the canary scaled to zero", func(st rollout.WorkloadState) bool {
		return st.Target.Desired == 0 && st.Target.Reason == ""
	})
	if st.TargetRevision != st0.TargetRevision {
		t.Errorf("scaling to zero changed the revision: %s, was %s", st.TargetRevision, st0.TargetRevision)
	}

	// A new revision of the target, scaled up, then promoted.
	if err := retryUpdate(ctx, cl, ns, "podinfo", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "quay.io/stefanprodan/podinfo:1.7.1"
	}); err != nil {
		t.Fatal(err)
	}
	apply(rollout.ScaleCanaryUp)
	st = waitFor("the canary's new pod", func(st rollout.WorkloadState) bool {
		return st.Target.Desired == 1 && st.Target.Ready == 1 && st.Target.Updated == 1
	})
	if st.TargetRevision == st0.TargetRevision {
		t.Error("a new image is not a new revision")
	}
	apply(rollout.PromotePrimary)
	get(t, cl, ns, "podinfo-primary", primary)
	if img := primary.Spec.Template.Spec.Containers[0].Image; img != "quay.io/stefanprodan/podinfo:1.7.1" {
		t.Errorf("promoted primary runs %s", img)
	}
	if _, ok := primary.Spec.Template.Spec.NodeSelector[scaleToZeroKey]; ok {
		t.Error("the primary carries the scale-to-zero node selector")
	}

	// Deleting the Canary restores the target at full scale.
	apply(rollout.ScaleCanaryDown)
	apply(rollout.RestoreTarget)
	got := &appsv1.DaemonSet{}
	get(t, cl, ns, "podinfo", got)
	if _, ok := got.Spec.Template.Spec.NodeSelector[scaleToZeroKey]; ok {
		t.Error("restored target is still scaled to zero")
	}
	apex := &corev1.Service{}
	get(t, cl, ns, "podinfo", apex)
	if apex.Spec.Selector["app"] != "podinfo" {
		t.Errorf("restored apex selects %v", apex.Spec.Selector)
	}
}

func retryUpdate(ctx context.Context, cl client.Client, ns, name string, mutate func(*appsv1.DaemonSet)) error {
	for range 5 {
		ds := &appsv1.DaemonSet{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ds); err != nil {
			return err
		}
		mutate(ds)
		if err := cl.Update(ctx, ds); err == nil {
			return nil
		}
	}
	return fmt.Errorf("update daemonset %s/%s: conflicts", ns, name)
}
