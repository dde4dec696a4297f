package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// TestServiceFieldsOnAPIServer: service.headless, trafficDistribution and
// unmanagedMetadata shape the generated Services as the API server stores
// them.
func TestServiceFieldsOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	cl, ns := startCluster(t, "svcfields")
	ctx := t.Context()

	target := podinfo()
	target.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: map[string]string{"app": "podinfo"}}
	target.Spec.Template.Spec.Containers[0].Env = nil
	target.Spec.Template.Spec.Containers[0].EnvFrom = nil
	target.Spec.Template.Spec.Volumes = nil
	target.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	c := canary()
	c.Namespace = ns
	c.Spec.Service.Headless = true
	c.Spec.Service.TrafficDistribution = corev1.ServiceTrafficDistributionPreferClose
	c.Spec.Service.Primary = &v1beta1.CustomMetadata{Annotations: map[string]string{"team": "serin", "tier": "web"}}
	c.Spec.Service.UnmanagedMetadata = &v1beta1.UnmanagedMetadata{Annotations: []string{"team"}}
	for _, o := range []client.Object{target, c} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	w := New(cl, Options{})
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.InitPrimary}); err != nil {
		t.Fatal(err)
	}
	for name, headless := range map[string]bool{"podinfo": false, "podinfo-primary": true, "podinfo-canary": true} {
		svc := &corev1.Service{}
		get(t, cl, ns, name, svc)
		if got := svc.Spec.ClusterIP == corev1.ClusterIPNone; got != headless {
			t.Errorf("service %s: clusterIP %q, want headless %t", name, svc.Spec.ClusterIP, headless)
		}
		if td := svc.Spec.TrafficDistribution; td == nil || *td != corev1.ServiceTrafficDistributionPreferClose {
			t.Errorf("service %s: trafficDistribution %v, want PreferClose", name, td)
		}
	}

	// Another controller changes the unmanaged annotation and a managed one:
	// the next reconcile restores only the managed one.
	primary := &corev1.Service{}
	get(t, cl, ns, "podinfo-primary", primary)
	primary.Annotations["team"] = "platform"
	primary.Annotations["tier"] = "changed"
	if err := cl.Update(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, c, rollout.Action{Type: rollout.InitPrimary}); err != nil {
		t.Fatal(err)
	}
	get(t, cl, ns, "podinfo-primary", primary)
	if primary.Annotations["team"] != "platform" || primary.Annotations["tier"] != "web" {
		t.Errorf("annotations = %v, want team kept at platform (unmanaged) and tier back to web", primary.Annotations)
	}
}
