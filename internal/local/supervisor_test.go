package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testContainer(app, image string) corev1.Container {
	return corev1.Container{
		Name:    "app",
		Image:   image,
		Command: []string{os.Args[0]},
		Env:     []corev1.EnvVar{{Name: "SERIN_LOCAL_TEST_APP", Value: app}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")},
		}},
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getVersion(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var info struct{ Version, Hostname string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return "", err
	}
	return info.Version, nil
}

func TestSupervisorRunsProbesAndStops(t *testing.T) {
	var mu sync.Mutex
	var events []PodEvent
	sup := NewSupervisor(SupervisorOptions{LogDir: t.TempDir(), Event: func(e PodEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	port := freePortT(t)
	pod := sup.Start(context.Background(), PodSpec{
		Name: "podinfo-1", Namespace: "test", Deployment: "podinfo", Port: port,
		Containers: []corev1.Container{testContainer("podinfo", "quay.io/stefanprodan/podinfo:1.7.1")},
	})
	eventually(t, 10*time.Second, "the pod to be ready", func() bool { return pod.Status().Ready })
	v, err := getVersion(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil || v != "1.7.1" {
		t.Fatalf("version = %q, %v; want 1.7.1 from the image tag", v, err)
	}
	pids := pod.Status().PIDs
	if len(pids) != 1 || !alive(pids[0]) {
		t.Fatalf("pids = %v, want one live process", pids)
	}
	pod.Stop()
	if alive(pids[0]) {
		t.Errorf("process %d still alive after Stop", pids[0])
	}
	if st := pod.Status(); st.Ready || len(st.PIDs) != 0 {
		t.Errorf("status after Stop = %+v", st)
	}
}

func TestSupervisorRestartsWithBackoff(t *testing.T) {
	sup := NewSupervisor(SupervisorOptions{LogDir: t.TempDir(), Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	c := testContainer("crash", "")
	c.ReadinessProbe = nil
	pod := sup.Start(context.Background(), PodSpec{Name: "crash-1", Namespace: "test", Deployment: "crash", Port: freePortT(t), Containers: []corev1.Container{c}})
	defer pod.Stop()
	eventually(t, 10*time.Second, "restarts", func() bool { return pod.Status().Restarts >= 3 })
	if st := pod.Status(); !strings.Contains(st.Reason, "CrashLoopBackOff") && st.Reason != "" {
		t.Errorf("reason = %q, want CrashLoopBackOff", st.Reason)
	}
	logs, err := os.ReadFile(LogPath(sup.opts.LogDir, "test", "crash-1", "app"))
	if err != nil || !strings.Contains(string(logs), "crashing on purpose") {
		t.Errorf("log = %q, %v; want the process's output", logs, err)
	}
}

func TestSupervisorCommandNotFound(t *testing.T) {
	var mu sync.Mutex
	var warnings []string
	sup := NewSupervisor(SupervisorOptions{LogDir: t.TempDir(), Backoff: 20 * time.Millisecond, Event: func(e PodEvent) {
		if e.Warning {
			mu.Lock()
			warnings = append(warnings, e.Message)
			mu.Unlock()
		}
	}})
	c := testContainer("podinfo", "")
	c.Command = []string{"podinfo-no-such-command"}
	pod := sup.Start(context.Background(), PodSpec{Name: "p", Namespace: "test", Deployment: "p", Port: freePortT(t), Containers: []corev1.Container{c}})
	defer pod.Stop()
	eventually(t, 5*time.Second, "a warning", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(warnings) > 0
	})
	st := pod.Status()
	if st.Ready || !strings.Contains(st.Reason, "executable file not found") {
		t.Errorf("status = %+v, want not ready with the exec error", st)
	}
}
