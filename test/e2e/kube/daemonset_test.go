package kube

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
)

// TestDaemonSetRelease releases a DaemonSet with the kubernetes provider,
// as Flagger's e2e tests do: the controller creates the primary DaemonSet,
// scales the target to zero with the scale-to-zero node selector, and on a
// new image runs the blue/green iterations and promotes it to the primary.
func TestDaemonSetRelease(t *testing.T) {
	// The test cluster's controllers, and the DaemonSet one.
	cluster := startCluster(t, "--controllers=deployment,replicaset,endpointslice,namespace,garbagecollector,daemonset")
	cl := cluster.Client()
	ns := cluster.CreateNamespace(t, "daemonset")
	ctx := t.Context()

	labels := map[string]string{"app": "podinfo"}
	target := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: image170,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
				}}},
			},
		},
	}
	canary := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: v1beta1.CanarySpec{
			Provider:  "kubernetes",
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "1s", Threshold: 2, Iterations: 2},
		},
	}
	for _, o := range []client.Object{target, canary} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	startController(t, cluster.RESTConfig(), kube.Options{MeshProvider: "kubernetes"})

	waitPhase(t, cl, ns, "podinfo", v1beta1.PhaseInitialized, 2*time.Minute, v1beta1.PhaseFailed)
	scaledToZero := func(ctx context.Context, name string) (bool, string, error) {
		ds := &appsv1.DaemonSet{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ds); err != nil {
			return false, "", err
		}
		_, zero := ds.Spec.Template.Spec.NodeSelector["flagger.app/scale-to-zero"]
		return zero, ds.Spec.Template.Spec.Containers[0].Image, nil
	}
	if zero, img, err := scaledToZero(ctx, "podinfo-primary"); err != nil || zero || img != image170 {
		t.Fatalf("primary daemonset: scaled to zero %t, image %s, %v", zero, img, err)
	}
	if zero, _, err := scaledToZero(ctx, "podinfo"); err != nil || !zero {
		t.Fatalf("target daemonset after initialization: scaled to zero %t, %v", zero, err)
	}

	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"podinfod","image":"` + image171 + `"}]}}}}`)
	if err := cl.Patch(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"}}, client.RawPatch("application/strategic-merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, cl, ns, "podinfo", v1beta1.PhaseProgressing, 2*time.Minute, v1beta1.PhaseFailed)
	waitPhase(t, cl, ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	testenv.Eventually(t, 30*time.Second, "promoted primary and idle target", func(ctx context.Context) (bool, error) {
		zero, img, err := scaledToZero(ctx, "podinfo-primary")
		if err != nil || zero || img != image171 {
			return false, err
		}
		zero, _, err = scaledToZero(ctx, "podinfo")
		return zero, err
	})
}
