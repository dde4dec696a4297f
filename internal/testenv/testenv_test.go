//go:build unix

package testenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

// TestCluster starts a cluster, checks the version it reports, installs
// serin's CRDs and rolls out a Deployment whose pods kwok makes Ready; when
// the test is over, no process of the cluster is left.
func TestCluster(t *testing.T) {
	var dir string
	t.Run("rollout", func(t *testing.T) {
		c := testenv.Start(t, testenv.Options{CRDs: []string{filepath.Join("..", "..", "deploy", "crds")}})
		dir = filepath.Dir(c.Kubeconfig())
		testRollout(t, c)
	})
	if dir == "" {
		return // skipped
	}
	if left := processesUsing(t, dir); len(left) > 0 {
		t.Errorf("processes left running after the test: %v", left)
	}
}

// processesUsing returns the command lines of the processes whose
// arguments mention dir.
func processesUsing(t *testing.T, dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, dir) {
			found = append(found, e.Name()+": "+cmd)
		}
	}
	return found
}

func testRollout(t *testing.T, c *testenv.Cluster) {
	ctx := t.Context()

	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.GitVersion, "v1.") || strings.Contains(v.GitVersion, "master") {
		t.Errorf("server version = %q, want a release version", v.GitVersion)
	}

	// The kubeconfig file reaches the same server.
	kc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	if kc.Host != c.RESTConfig().Host {
		t.Errorf("kubeconfig server = %q, want %q", kc.Host, c.RESTConfig().Host)
	}

	ns := c.CreateNamespace(t, "smoke")

	// serin's CRDs are served.
	canary := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
		},
	}
	if err := c.Client().Create(ctx, canary); err != nil {
		t.Fatalf("create canary: %v", err)
	}

	labels := map[string]string{"app": "podinfo"}
	dep := podinfo(ns, 2)
	if err := c.Client().Create(ctx, dep); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.Client().List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.Spec.NodeName == testenv.NodeName {
					ready++
				}
			}
		}
		return ready == 2, nil
	})
	if err != nil {
		var pods corev1.PodList
		_ = c.Client().List(ctx, &pods, client.InNamespace(ns))
		for _, p := range pods.Items {
			t.Logf("pod %s: node %q, phase %s, conditions %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
		t.Fatalf("wait for 2 ready pods: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := c.Client().Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2 && d.Status.UpdatedReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("wait for the deployment to report 2 ready replicas: %v", err)
	}
}

// podinfo is a Deployment of podinfo with the label app=podinfo.
func podinfo(ns string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "podinfo"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "podinfod",
					Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
					Ports: []corev1.ContainerPort{{ContainerPort: 9898}},
				}}},
			},
		},
	}
}

// TestControlPlaneOnly starts etcd and kube-apiserver alone and checks that
// MarkDeploymentsReady reports a Deployment's replicas ready at each
// generation, which nothing else in such a cluster would.
func TestControlPlaneOnly(t *testing.T) {
	c := testenv.Start(t, testenv.Options{ControlPlaneOnly: true})
	ctx := t.Context()
	ns := c.CreateNamespace(t, "bench")
	stop, err := testenv.MarkDeploymentsReady(c.RESTConfig(), ns, 2, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	dep := podinfo(ns, 3)
	if err := c.Client().Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitReady := func(replicas int32) *appsv1.Deployment {
		t.Helper()
		var d appsv1.Deployment
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := c.Client().Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
				return false, err
			}
			st := d.Status
			return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == replicas &&
				st.ReadyReplicas == replicas && st.AvailableReplicas == replicas, nil
		})
		if err != nil {
			t.Fatalf("wait for %d ready replicas at generation %d: %v (status %+v)", replicas, d.Generation, err, d.Status)
		}
		return &d
	}
	d := waitReady(3)

	// A new spec is a new generation, reported ready once more.
	orig := d.DeepCopy()
	d.Spec.Replicas = ptr.To[int32](0)
	d.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.0.1"
	if err := c.Client().Patch(ctx, d, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	if got := waitReady(0); got.Generation <= orig.Generation {
		t.Errorf("generation %d after a new spec, want more than %d", got.Generation, orig.Generation)
	}

	// Nothing runs the pods: no kwok Node was registered.
	var nodes corev1.NodeList
	if err := c.Client().List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 0 {
		t.Errorf("a control-plane-only cluster has %d Nodes, want none", len(nodes.Items))
	}
}

// TestPrometheus scrapes a real HTTP server and reads it back with PromQL.
func TestPrometheus(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE response_total counter")
		fmt.Fprintln(w, `response_total{namespace="test",deployment="podinfo",classification="success",direction="inbound"} 42`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	p := testenv.StartPrometheus(t, []string{l.Addr().String()}, time.Second)
	ctx := t.Context()

	type vector struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	query := func(q string) (vector, error) {
		var v vector
		data, err := p.Query(ctx, q)
		if err != nil {
			return v, err
		}
		return v, json.Unmarshal(data, &v)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		v, err := query("up")
		if err != nil {
			return false, err
		}
		return len(v.Result) == 1 && v.Result[0].Value[1] == "1", nil
	})
	if err != nil {
		t.Fatalf("wait for up == 1: %v", err)
	}
	v, err := query(`response_total{deployment="podinfo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Result) != 1 || v.Result[0].Value[1] != "42" || v.Result[0].Metric["namespace"] != "test" {
		t.Errorf("response_total = %+v, want one series of 42 with the exporter's namespace label", v.Result)
	}

	p.Stop()
	if !p.Stopped() {
		t.Error("prometheus still running after Stop")
	}
	if _, err := p.Query(ctx, "up"); err == nil {
		t.Error("query after Stop succeeded")
	}
}
