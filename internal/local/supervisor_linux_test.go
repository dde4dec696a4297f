package local

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// TestCrashKillsProcessGroup: when a container's process exits, what it
// started in its process group goes with it, so a child cannot keep the
// pod's port from the restarted container.
func TestCrashKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	port := freePortT(t)
	sup := NewSupervisor(SupervisorOptions{LogDir: t.TempDir(), Backoff: time.Hour})
	c := corev1.Container{
		Name: "app",
		// The shell starts a podinfo on the pod's port in the background
		// and crashes.
		Command: []string{"/bin/sh", "-c", `"$SELF" & echo $! > "$PIDFILE"; exit 1`},
		Env: []corev1.EnvVar{
			{Name: "SELF", Value: os.Args[0]}, {Name: "PIDFILE", Value: pidFile},
			{Name: "SERIN_LOCAL_TEST_APP", Value: "podinfo"},
		},
	}
	pod := sup.Start(context.Background(), PodSpec{Name: "forker-1", Namespace: "test", Deployment: "forker", Port: port, Containers: []corev1.Container{c}})
	defer pod.Stop()
	eventually(t, 10*time.Second, "the container to crash", func() bool { return pod.Status().Restarts >= 1 })
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	eventually(t, 10*time.Second, fmt.Sprintf("the crashed container's child %d to be killed", child), func() bool { return exited(child) })
	eventually(t, 10*time.Second, "the pod's port to be free", func() bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		_ = l.Close()
		return true
	})
}

// TestStateIsPrivate: the state directory, its files and the pods' logs
// are for their user alone, also when an older serin made them readable.
func TestStateIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	logs := LogDir(dir)
	old := LogPath(logs, "test", "crash-1", "app")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("an older run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, logs} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(old, 0o644); err != nil {
		t.Fatal(err)
	}
	rt := openTest(t, dir)
	if _, err := rt.Apply(testObjects(int32(freePortT(t)))...); err != nil {
		t.Fatal(err)
	}
	c := testContainer("crash", "")
	c.ReadinessProbe = nil
	pod := rt.sup.Start(context.Background(), PodSpec{Name: "crash-1", Namespace: "test", Deployment: "crash", Port: freePortT(t), Containers: []corev1.Container{c}})
	eventually(t, 10*time.Second, "the container to crash", func() bool { return pod.Status().Restarts >= 1 })
	pod.Stop()
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "new", "state")
	store, err := OpenStore(fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for path, want := range map[string]os.FileMode{
		logs: 0o700, old: 0o600, filepath.Join(dir, stateFile): 0o600, filepath.Join(dir, lockFile): 0o600,
		fresh: 0o700, LogDir(fresh): 0o700,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}
