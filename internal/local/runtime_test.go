package local

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/metrics/builtin"
)

func testEngine(a Adapters) Engine {
	return engine.New(a.Workload, a.Router, builtin.New(a.Telemetry, time.Now), nil, nil)
}

func testObjects(port int32) []any {
	one := int32(1)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{testContainer("podinfo", "podinfo:1.7.0")}},
			},
		},
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo"}, Ports: []corev1.ServicePort{{Port: port}}},
	}
	minRate := 99.0
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: port},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "1s", Threshold: 5, StepWeight: 50, MaxWeight: 100,
				Metrics: []v1beta1.CanaryMetric{{Name: "request-success-rate", Interval: "1m", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: &minRate}}},
			},
		},
	}
	return []any{d, s, c}
}

// TestRuntimeReleases runs podinfo processes behind the proxy and releases
// a new version through the engine.
func TestRuntimeReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	port := int32(freePortT(t))
	rt, err := Open(Options{StateDir: dir, NewEngine: testEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Apply(testObjects(port)...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, rt.ServeAPI) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	phase := func() v1beta1.CanaryPhase {
		c, _ := rt.Canary("test", "podinfo")
		return c.Status.Phase
	}
	eventually(t, 20*time.Second, "Initialized", func() bool { return phase() == v1beta1.PhaseInitialized })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if v, err := getVersion(url); err != nil || v != "1.7.0" {
		t.Fatalf("through the service: version %q, %v; want 1.7.0", v, err)
	}
	snap := rt.Snapshot()
	for _, d := range snap.Deployments {
		if d.Deployment.Name == "podinfo" && *d.Deployment.Spec.Replicas != 0 {
			t.Errorf("target replicas = %d after initialisation, want 0", *d.Deployment.Spec.Replicas)
		}
	}

	// Traffic for the analysis, through the proxy.
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			<-tick.C
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
			}
		}
	}()
	// A DaemonSet's image is not the Deployment's of the same name.
	ds := SetImageRequest{Kind: "DaemonSet", Namespace: "test", Name: "podinfo", Container: "app", Image: "podinfo:1.7.1"}
	if err := NewClient(dir).SetImage(ctx, ds); err == nil || !strings.Contains(err.Error(), "the local runtime runs Deployments only, not a DaemonSet") {
		t.Errorf("set image of a DaemonSet: %v", err)
	}
	if c, _ := rt.Canary("test", "podinfo"); c.Status.Phase != v1beta1.PhaseInitialized {
		t.Fatalf("after a refused set image the canary is %s", c.Status.Phase)
	}
	if err := NewClient(dir).SetImage(ctx, SetImageRequest{Namespace: "test", Name: "podinfo", Container: "app", Image: "podinfo:1.7.1"}); err != nil {
		t.Fatal(err)
	}
	sawHalf := false
	eventually(t, 60*time.Second, "Succeeded", func() bool {
		c, _ := rt.Canary("test", "podinfo")
		sawHalf = sawHalf || c.Status.CanaryWeight == 50
		return c.Status.Phase == v1beta1.PhaseSucceeded && c.Status.LastPromotedSpec == c.Status.LastAppliedSpec
	})
	if !sawHalf {
		t.Error("never saw the canary at weight 50")
	}
	eventually(t, 10*time.Second, "1.7.1 through the service", func() bool {
		v, _ := getVersion(url)
		return v == "1.7.1"
	})
	st, err := ReadState(dir)
	if err != nil || len(st.Canaries) != 1 || st.Canaries[0].Status.Phase != v1beta1.PhaseSucceeded {
		t.Fatalf("persisted state: %+v, %v", st, err)
	}
}
