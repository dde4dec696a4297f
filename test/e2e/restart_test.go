package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const releaseManifests = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: test
spec:
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfod
          image: quay.io/stefanprodan/podinfo:1.7.0
          command: [serin, podinfo]
          args: ["--port=$(PORT)"]
          readinessProbe:
            httpGet: {path: /readyz, port: 9898}
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo
  namespace: test
spec:
  selector: {app: podinfo}
  ports:
    - port: %[1]d
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: load
  namespace: test
spec:
  selector:
    matchLabels: {app: load}
  template:
    metadata:
      labels: {app: load}
    spec:
      containers:
        - name: load
          command: [serin, load, --qps=20, "http://127.0.0.1:%[1]d"]
---
apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: %[1]d}
  analysis:
    interval: 1s
    threshold: 5
    stepWeight: 10
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
`

type persisted struct {
	Canaries []struct {
		Status struct {
			Phase        string `json:"phase"`
			CanaryWeight int    `json:"canaryWeight"`
			FailedChecks int    `json:"failedChecks"`
		} `json:"status"`
	} `json:"canaries"`
	Processes []struct {
		PID int `json:"pid"`
	} `json:"processes"`
}

func readState(t *testing.T, dir string) persisted {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKillAndRestart kills `serin run` with SIGKILL in the middle of a
// release, starts it again and checks that the release resumes at the
// weight it had reached and finishes with the image that was set: started
// again without files, and with the files it started from, which must
// not cancel the release (their image is the one before `serin set
// image`).
func TestKillAndRestart(t *testing.T) {
	t.Run("without files", func(t *testing.T) { killAndRestart(t, false) })
	t.Run("with the same files", func(t *testing.T) { killAndRestart(t, true) })
}

func killAndRestart(t *testing.T, sameFiles bool) {
	bin := serin(t)
	state := t.TempDir()
	file := filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, releaseManifests, freePort(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	first := start(t, bin, "run", "-f", file, "--state-dir", state)
	waitFor(t, time.Minute, "Initialized", func() bool {
		phase, _, _, _ := canary(t, bin, state)
		return phase == "Initialized"
	})

	// A second run on the same state directory is refused.
	out, err := cli(t, bin, state, "run")
	if err == nil || !strings.Contains(out, "is used by a running serin") {
		t.Fatalf("second serin run: err %v, output:\n%s", err, out)
	}

	if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "weight 30", func() bool {
		_, w, _, _ := canary(t, bin, state)
		return w >= 30
	})
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	killed := readState(t, state)
	if len(killed.Canaries) != 1 || killed.Canaries[0].Status.Phase != "Progressing" {
		t.Fatalf("persisted canary after the kill: %+v", killed.Canaries)
	}
	weight := killed.Canaries[0].Status.CanaryWeight
	if weight < 30 || weight >= 100 {
		t.Fatalf("persisted weight %d, want between 30 and 90", weight)
	}
	var orphans []int
	for _, p := range killed.Processes {
		orphans = append(orphans, p.PID)
	}
	assertGone(t, orphans) // killed with serin, or by the next run

	args := []string{"run", "--state-dir", state}
	if sameFiles {
		args = append(args, "-f", file)
	}
	second := start(t, bin, args...)
	var resumed int
	waitFor(t, 30*time.Second, "the API after the restart", func() bool {
		phase, w, _, ok := canary(t, bin, state)
		resumed = w
		return ok && phase != ""
	})
	if resumed < weight {
		t.Fatalf("resumed at weight %d, want at least %d (where it was killed)", resumed, weight)
	}
	waitFor(t, 2*time.Minute, "Succeeded", func() bool {
		phase, _, _, _ := canary(t, bin, state)
		return phase == "Succeeded"
	})
	if !strings.Contains(second.out.String(), "Promotion completed") {
		t.Errorf("no promotion event in the second run's output:\n%s", second.out.String())
	}
	if sameFiles && !strings.Contains(second.out.String(), "deployment/podinfo unchanged") {
		t.Errorf("the second run did not keep deployment/podinfo as it was:\n%s", second.out.String())
	}
	if img := image(t, bin, state, "podinfo-primary"); img != "quay.io/stefanprodan/podinfo:1.7.1" {
		t.Errorf("the primary runs %q after the promotion, want the image set before the kill (1.7.1)", img)
	}
	running := pids(t, bin, state)
	if err := second.interrupt(t); err != nil {
		t.Fatalf("serin run after Ctrl-C: %v", err)
	}
	assertGone(t, running)
}

// image returns the image of a Deployment's first container.
func image(t *testing.T, bin, stateDir, name string) string {
	t.Helper()
	out, err := cli(t, bin, stateDir, "get", "deployments", name, "-n", "test", "-o", "json")
	if err != nil {
		t.Fatalf("get deployment %s: %v\n%s", name, err, out)
	}
	var l struct {
		Items []struct {
			Deployment struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Image string `json:"image"`
							} `json:"containers"`
						} `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			} `json:"deployment"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 1 || len(l.Items[0].Deployment.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("get deployment %s: %v\n%s", name, err, out)
	}
	return l.Items[0].Deployment.Spec.Template.Spec.Containers[0].Image
}
