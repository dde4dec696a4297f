package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readStateFile(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRefusedApplyLeavesStateUntouched: an apply the runtime refuses, for
// any one of its objects, changes nothing, in memory or on disk, and the
// next run on the state directory works.
func TestRefusedApplyLeavesStateUntouched(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	port := int32(freePortT(t))
	rt := openTest(t, dir)
	if _, err := rt.Apply(testObjects(port)...); err != nil {
		t.Fatal(err)
	}
	saved := readStateFile(t, dir)

	extra := testObjects(port)[0].(*appsv1.Deployment)
	extra.Name = "extra"
	clash := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "test"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "extra"}, Ports: []corev1.ServicePort{{Port: port}}},
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "test"}}
	for _, tc := range []struct {
		name string
		objs []any
		want string
	}{
		{"a Service on a port taken", []any{extra, clash},
			fmt.Sprintf("service test/other: spec.ports[0].port: port %d is also the port of service test/podinfo (applied earlier)", port)},
		{"a ConfigMap", []any{extra, cm}, "configmap"},
	} {
		out, err := rt.Apply(tc.objs...)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
			t.Fatalf("%s: Apply = %q, %v; want an error with %q", tc.name, out, err, tc.want)
		}
		if _, ok := deployment(rt, "extra"); ok {
			t.Fatalf("%s: deployment extra was applied with the refused objects", tc.name)
		}
		if now := readStateFile(t, dir); !bytes.Equal(now, saved) {
			t.Fatalf("%s: the refused apply changed %s", tc.name, stateFile)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	rt = openTest(t, dir)
	runTest(t, rt)
	eventually(t, 20*time.Second, "podinfo to serve after the refused apply", func() bool {
		v, err := getVersion(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err == nil && v == "1.7.0"
	})
}

// TestApplySameContentKeepsLiveState: applying again the content an
// object was last applied with, as serin run -f does on a restart, keeps
// what changed it since (here serin set image, which starts a release);
// content that changed is a new apply and wins.
func TestApplySameContentKeepsLiveState(t *testing.T) {
	dir := t.TempDir()
	port := int32(freePortT(t))
	image := func(rt *Runtime) string {
		t.Helper()
		d, ok := deployment(rt, "podinfo")
		if !ok {
			t.Fatal("deployment podinfo is gone")
		}
		return d.Deployment.Spec.Template.Spec.Containers[0].Image
	}
	rt := openTest(t, dir)
	if _, err := rt.Apply(testObjects(port)...); err != nil {
		t.Fatal(err)
	}
	if err := rt.SetImage("test", "podinfo", "app", "podinfo:1.7.1"); err != nil {
		t.Fatal(err)
	}
	out, err := rt.Apply(testObjects(port)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := image(rt); got != "podinfo:1.7.1" || !strings.Contains(strings.Join(out, "\n"), "deployment/podinfo unchanged") {
		t.Fatalf("after applying the same content: image %s, output %q; want podinfo:1.7.1 (set image) and unchanged", got, out)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	rt = openTest(t, dir) // a restart
	defer rt.Close()
	if _, err := rt.Apply(testObjects(port)...); err != nil {
		t.Fatal(err)
	}
	if got := image(rt); got != "podinfo:1.7.1" {
		t.Fatalf("after a restart with the same content: image %s, want podinfo:1.7.1 (set image)", got)
	}

	changed := testObjects(port)
	changed[0].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "podinfo:1.7.2"
	out, err = rt.Apply(changed...)
	if err != nil {
		t.Fatal(err)
	}
	if got := image(rt); got != "podinfo:1.7.2" || !strings.Contains(strings.Join(out, "\n"), "deployment/podinfo configured") {
		t.Fatalf("after applying changed content: image %s, output %q; want podinfo:1.7.2 and configured", got, out)
	}
}
