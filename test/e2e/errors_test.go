package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appManifests is podinfo and its Service on port, run by the serin
// binary itself.
func appManifests(port int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: test
spec:
  replicas: 1
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfod
          image: quay.io/stefanprodan/podinfo:1.7.0
          command: [serin, podinfo]
          args: ["--port=$(PORT)"]
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo
  namespace: test
spec:
  selector:
    app: podinfo
  ports:
    - name: http
      port: %d
`, port)
}

// canaryManifest is a Canary of podinfo; stepWeight 0 makes it invalid.
func canaryManifest(port, stepWeight int) string {
	return fmt.Sprintf(`apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  revertOnDeletion: true
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: %d
  analysis:
    interval: 1s
    threshold: 5
    stepWeight: %d
    metrics:
      - name: request-success-rate
        thresholdRange:
          min: 99
        interval: 1m
`, port, stepWeight)
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunErrors runs serin run as a newcomer gets it wrong: each mistake
// ends with a message saying what to change.
func TestRunErrors(t *testing.T) {
	bin := serin(t)
	dir := t.TempDir()

	t.Run("invalid manifest", func(t *testing.T) {
		port := freePort(t)
		app := writeFile(t, dir, "app.yaml", appManifests(port))
		bad := writeFile(t, dir, "canary.yaml", canaryManifest(port, 0))
		out, err := exec.Command(bin, "run", "-f", app, "-f", bad, "--state-dir", t.TempDir()).CombinedOutput()
		if err == nil {
			t.Fatalf("serin run with an invalid Canary succeeded:\n%s", out)
		}
		if want := "canary.yaml:17: spec.analysis.stepWeight"; !strings.Contains(string(out), want) {
			t.Fatalf("want %q (file:line and field path) in:\n%s", want, out)
		}
	})

	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		app := writeFile(t, dir, "busy.yaml", appManifests(port))
		out, err := exec.Command(bin, "run", "-f", app, "--state-dir", t.TempDir()).CombinedOutput()
		if err == nil {
			t.Fatalf("serin run on a port in use succeeded:\n%s", out)
		}
		for _, want := range []string{fmt.Sprintf("port %d on 127.0.0.1 is already in use", port), "test/podinfo", "spec.ports[].port"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("want %q in:\n%s", want, out)
			}
		}
	})

	t.Run("second run on the same state directory", func(t *testing.T) {
		state := t.TempDir()
		app := writeFile(t, dir, "second.yaml", appManifests(freePort(t)))
		first := start(t, bin, "run", "-f", app, "--state-dir", state)
		waitFor(t, 20*time.Second, "the first run to serve", func() bool {
			out, err := cli(t, bin, state, "get", "pods")
			return err == nil && strings.Contains(out, "podinfo")
		})
		out, err := exec.Command(bin, "run", "-f", app, "--state-dir", state).CombinedOutput()
		if err == nil {
			t.Fatalf("a second serin run on %s succeeded:\n%s", state, out)
		}
		want := fmt.Sprintf("state directory in use: %s is used by a running serin (pid %d)", state, first.cmd.Process.Pid)
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "--state-dir") {
			t.Fatalf("want %q and --state-dir in:\n%s", want, out)
		}
		ps := pids(t, bin, state)
		if err := first.interrupt(t); err != nil {
			t.Fatalf("first run: %v", err)
		}
		assertGone(t, ps)
	})
}

// TestDeleteRevertOnDeletion deletes a Canary with revertOnDeletion with
// serin delete, which waits, as kubectl delete does, until the Canary is
// gone: it goes through Terminating, then the Service is served by the
// restored target and the primary is gone.
func TestDeleteRevertOnDeletion(t *testing.T) {
	bin := serin(t)
	dir, state := t.TempDir(), t.TempDir()
	port := freePort(t)
	app := writeFile(t, dir, "app.yaml", appManifests(port))
	cn := writeFile(t, dir, "canary.yaml", canaryManifest(port, 50))
	run := start(t, bin, "run", "-f", app, "-f", cn, "--state-dir", state)
	waitFor(t, 30*time.Second, "Initialized", func() bool {
		phase, _, _, ok := canary(t, bin, state)
		return ok && phase == "Initialized"
	})
	out, err := cli(t, bin, state, "delete", "-f", cn)
	if err != nil || !strings.Contains(out, "terminating") || !strings.Contains(out, "canary/podinfo deleted") {
		t.Fatalf("serin delete: %v\n%s", err, out)
	}
	// serin delete returned: the canary is gone already.
	if out, err := cli(t, bin, state, "get", "canaries", "-o", "json"); err != nil || strings.Contains(out, `"podinfo"`) {
		t.Fatalf("after serin delete returned: %v\n%s", err, out)
	}
	if !strings.Contains(run.out.String(), "Terminated") {
		t.Errorf("no Terminated event in the output of serin run:\n%s", run.out.String())
	}
	waitFor(t, 10*time.Second, "the primary to go", func() bool {
		out, err := cli(t, bin, state, "get", "deployments")
		return err == nil && strings.Contains(out, "podinfo") && !strings.Contains(out, "podinfo-primary")
	})
	if v := version(fmt.Sprintf("http://127.0.0.1:%d/", port)); v != "1.7.0" {
		t.Errorf("through the Service after the deletion: version %q, want 1.7.0 from the target", v)
	}
	ps := pids(t, bin, state)
	if err := run.interrupt(t); err != nil {
		t.Fatalf("serin run: %v", err)
	}
	assertGone(t, ps)
}

// TestRefusedRunKeepsState: serin run with manifests it refuses (here a
// Service on a port another Service of the state directory already
// takes) saves nothing, says which file and line, and the next serin run
// on the directory runs what it had.
func TestRefusedRunKeepsState(t *testing.T) {
	bin := serin(t)
	dir, state := t.TempDir(), t.TempDir()
	port := freePort(t)
	app := writeFile(t, dir, "app.yaml", appManifests(port))
	first := start(t, bin, "run", "-f", app, "--state-dir", state)
	waitFor(t, 30*time.Second, "podinfo to serve", func() bool { return version(fmt.Sprintf("http://127.0.0.1:%d/", port)) == "1.7.0" })
	if err := first.interrupt(t); err != nil {
		t.Fatalf("first run: %v", err)
	}
	saved, err := os.ReadFile(filepath.Join(state, "state.json"))
	if err != nil {
		t.Fatal(err)
	}

	clash := writeFile(t, dir, "clash.yaml", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: other
  namespace: test
spec:
  selector:
    app: podinfo
  ports:
    - port: %d
`, port))
	out, err := exec.Command(bin, "run", "-f", clash, "--state-dir", state).CombinedOutput()
	if err == nil {
		t.Fatalf("serin run with a Service on a port taken succeeded:\n%s", out)
	}
	want := fmt.Sprintf("clash.yaml:10: spec.ports[0].port: port %d is also the port of service test/podinfo (applied earlier)", port)
	if !strings.Contains(string(out), want) {
		t.Fatalf("want %q in:\n%s", want, out)
	}
	if now, err := os.ReadFile(filepath.Join(state, "state.json")); err != nil || string(now) != string(saved) {
		t.Fatalf("the refused run changed state.json (err %v)", err)
	}

	again := start(t, bin, "run", "--state-dir", state)
	waitFor(t, 30*time.Second, "podinfo to serve again", func() bool { return version(fmt.Sprintf("http://127.0.0.1:%d/", port)) == "1.7.0" })
	ps := pids(t, bin, state)
	if err := again.interrupt(t); err != nil {
		t.Fatalf("the run after the refused one: %v", err)
	}
	assertGone(t, ps)
}
