package kube

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
)

// TestOnAPIServer runs the workload actions against a real API server, in
// the order a release runs them.
func TestOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	cl, ns := startCluster(t, "workload")
	ctx := t.Context()

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-config"}, Data: map[string]string{"color": "blue"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-secret"}, Data: map[string][]byte{"token": []byte("t1")}}
	target := podinfo()
	target.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: map[string]string{"app": "podinfo"}}
	target.Spec.Replicas = ptr.To[int32](2)
	target.Spec.Template.Spec.Containers[0].Env = target.Spec.Template.Spec.Containers[0].Env[:1] // drop the untracked configmap
	target.Spec.Template.Spec.Containers[0].EnvFrom = nil
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			MinReplicas:    ptr.To[int32](2),
			MaxReplicas:    4,
		},
	}
	apex := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "podinfo"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9898}},
		},
	}
	c := canary()
	c.Namespace = ns
	c.Spec.AutoscalerRef = &v1beta1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
	for _, o := range []client.Object{cm, secret, target, hpa, apex, c} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	w := New(cl, Options{})
	apply := func(a rollout.ActionType) {
		t.Helper()
		if err := w.Apply(ctx, c, rollout.Action{Type: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		// Idempotent: a second run changes nothing and does not fail.
		if err := w.Apply(ctx, c, rollout.Action{Type: a}); err != nil {
			t.Fatalf("%s again: %v", a, err)
		}
	}

	st, err := w.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !st.TargetFound || st.PrimaryFound || st.TargetRevision == "" || st.Target.Desired != 2 {
		t.Fatalf("before init: %+v", st)
	}
	if want := []string{"configmap/podinfo-config", "secret/podinfo-secret"}; !slices.Equal(sortedKeys(st.TrackedConfigs), want) {
		t.Errorf("tracked configs = %v, want %v", st.TrackedConfigs, want)
	}
	rev0 := st.TargetRevision

	apply(rollout.InitPrimary)
	primary := &appsv1.Deployment{}
	get(t, cl, ns, "podinfo-primary", primary)
	if *primary.Spec.Replicas != 2 || primary.Spec.Selector.MatchLabels["app"] != "podinfo-primary" {
		t.Errorf("primary = replicas %d selector %v", *primary.Spec.Replicas, primary.Spec.Selector.MatchLabels)
	}
	if !metav1.IsControlledBy(primary, c) {
		t.Errorf("primary is not owned by the canary: %v", primary.OwnerReferences)
	}
	if got := primary.Spec.Template.Spec.Volumes[0].ConfigMap.Name; got != "podinfo-config-primary" {
		t.Errorf("primary mounts %s", got)
	}
	cmCopy := &corev1.ConfigMap{}
	get(t, cl, ns, "podinfo-config-primary", cmCopy)
	if cmCopy.Data["color"] != "blue" {
		t.Errorf("configmap copy = %v", cmCopy.Data)
	}
	get(t, cl, ns, "podinfo-secret-primary", &corev1.Secret{})
	hpaCopy := &autoscalingv2.HorizontalPodAutoscaler{}
	get(t, cl, ns, "podinfo-primary", hpaCopy)
	if hpaCopy.Spec.ScaleTargetRef.Name != "podinfo-primary" || hpaCopy.Spec.MaxReplicas != 4 {
		t.Errorf("hpa copy = %+v", hpaCopy.Spec)
	}
	for name, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		svc := &corev1.Service{}
		get(t, cl, ns, name, svc)
		if svc.Spec.Selector["app"] != sel || svc.Spec.Ports[0].Port != 9898 {
			t.Errorf("service %s: selector %v ports %v", name, svc.Spec.Selector, svc.Spec.Ports)
		}
	}

	apply(rollout.ScaleCanaryDown)
	if n := replicas(t, cl, ns, "podinfo"); n != 0 {
		t.Errorf("target replicas after ScaleCanaryDown = %d", n)
	}
	st, _ = w.Observe(ctx, c)
	if st.TargetRevision != rev0 {
		t.Errorf("scaling changed the revision")
	}

	// A change of the ConfigMap's data is a new revision.
	cm.Data["color"] = "green"
	if err := cl.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	st, _ = w.Observe(ctx, c)
	if st.TargetRevision == rev0 {
		t.Error("config change kept the revision")
	}
	apply(rollout.ScaleCanaryUp)
	if n := replicas(t, cl, ns, "podinfo"); n != 2 {
		t.Errorf("target replicas after ScaleCanaryUp = %d, want the autoscaler's minimum 2", n)
	}

	apply(rollout.PromotePrimary)
	get(t, cl, ns, "podinfo-config-primary", cmCopy)
	if cmCopy.Data["color"] != "green" {
		t.Errorf("promoted configmap copy = %v", cmCopy.Data)
	}

	// Restore: the target serves through the apex Service, which stays.
	apply(rollout.RestoreTarget)
	svc := &corev1.Service{}
	get(t, cl, ns, "podinfo", svc)
	if svc.Spec.Selector["app"] != "podinfo" || metav1.IsControlledBy(svc, c) {
		t.Errorf("apex after restore: selector %v owners %v", svc.Spec.Selector, svc.OwnerReferences)
	}
	if n := replicas(t, cl, ns, "podinfo"); n != 2 {
		t.Errorf("target replicas after restore = %d", n)
	}

	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.SetRoutes}); err == nil {
		t.Error("SetRoutes is the router's, want an error")
	}
	waitReady(t, cl, ns, "podinfo-primary")
	st, _ = w.Observe(ctx, c)
	if st.Primary.Ready != 2 || st.Primary.Updated != 2 {
		t.Errorf("primary readiness = %+v, want 2 ready (kwok)", st.Primary)
	}
}

// startCluster starts a test cluster with serin's CRDs, and a namespace
// for the test; kcmArgs are added to kube-controller-manager's flags.
func startCluster(t *testing.T, namespace string, kcmArgs ...string) (client.Client, string) {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1beta1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	cluster := testenv.Start(t, testenv.Options{Scheme: s, CRDs: []string{"../../../deploy/crds"}, ControllerManagerArgs: kcmArgs})
	return cluster.Client(), cluster.CreateNamespace(t, namespace)
}

func get(t *testing.T, cl client.Client, ns, name string, o client.Object) {
	t.Helper()
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
		t.Fatalf("get %T %s: %v", o, name, err)
	}
}

func replicas(t *testing.T, cl client.Client, ns, name string) int32 {
	d := &appsv1.Deployment{}
	get(t, cl, ns, name, d)
	return *d.Spec.Replicas
}

func waitReady(t *testing.T, cl client.Client, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err == nil && readiness(d).Ready == *d.Spec.Replicas && readiness(d).Updated == *d.Spec.Replicas {
			return
		}
		select {
		case <-ctx.Done():
			d := &appsv1.Deployment{}
			_ = cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d)
			pods := &corev1.PodList{}
			_ = cl.List(context.Background(), pods, client.InNamespace(ns))
			var phases []string
			for _, p := range pods.Items {
				phases = append(phases, p.Name+"="+string(p.Status.Phase)+"/"+p.Spec.NodeName)
			}
			t.Fatalf("deployment %s not ready: status %+v; pods %v", name, d.Status, phases)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
