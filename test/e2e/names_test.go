package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
)

// walkthroughFiles copies the walkthrough's local manifests and its Canary
// with Flagger's loadtester webhooks into a directory, changing only what
// the machine decides (the Services' ports on 127.0.0.1, free ones
// here, and podinfo-canary's port, which is podinfo's) and the analysis
// interval (1s, to keep the test short). It returns the directory and
// podinfo's port.
func walkthroughFiles(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	podinfo, frontend := freePort(t), freePort(t)
	for _, f := range []struct{ from, to string }{
		{"local/podinfo.yaml", "podinfo.yaml"},
		{"local/frontend.yaml", "frontend.yaml"},
		{"local/load.yaml", "load.yaml"},
		{"local/loadtester.yaml", "loadtester.yaml"},
		{"canary-webhooks.yaml", "canary.yaml"},
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "podinfo", f.from))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer(
			"9898", fmt.Sprint(podinfo),
			"      port: 8080\n      targetPort", fmt.Sprintf("      port: %d\n      targetPort", frontend),
			"interval: 10s", "interval: 1s",
		).Replace(string(b))
		if f.from == "local/loadtester.yaml" && text != string(b) {
			t.Fatalf("%s changed: Flagger's loadtester manifests must run as they are", f.from)
		}
		writeFile(t, dir, f.to, text)
	}
	return dir, podinfo
}

// loadtesterAddr is the local address of flagger-loadtester, as `serin
// get services` shows it.
func loadtesterAddr(t *testing.T, bin, state string) string {
	t.Helper()
	out, err := cli(t, bin, state, "get", "services", "flagger-loadtester", "-o", "json")
	if err != nil {
		t.Fatalf("get services: %v\n%s", err, out)
	}
	var list struct {
		Items []struct{ Addresses []string }
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || len(list.Items[0].Addresses) != 1 {
		t.Fatalf("get services flagger-loadtester -o json: %v\n%s", err, out)
	}
	return list.Items[0].Addresses[0]
}

// TestWalkthroughWithLoadtester runs the walkthrough's Canary with Flagger's
// loadtester webhooks and Flagger's loadtester manifests under serin run
// on one machine: the Kubernetes names resolve to the local Services, the
// loadtester image runs as serin loadtester, the acceptance test and the
// hey load reach podinfo-canary, the promotion gate holds until curl opens
// it, and the release is promoted.
func TestWalkthroughWithLoadtester(t *testing.T) {
	bin := serin(t)
	dir, port := walkthroughFiles(t)
	state := t.TempDir()
	if out, err := exec.Command(bin, "validate", "--local", "-f", dir).CombinedOutput(); err != nil {
		t.Fatalf("validate --local: %v\n%s", err, out)
	}
	start(t, bin, "run", "-f", dir, "--state-dir", state)
	waitPhase(t, state, "podinfo", v1beta1.PhaseInitialized, time.Minute)

	// Flagger's Services of the Canary are listed, beside the loadtester's
	// port 80 on a free port.
	out, err := cli(t, bin, state, "get", "services")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"podinfo-primary", "podinfo-canary", "flagger-loadtester"} {
		if !strings.Contains(out, " "+name+" ") {
			t.Errorf("get services lists no %s:\n%s", name, out)
		}
	}

	if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	// The promotion gate holds the release at the maximum weight.
	waitPhase(t, state, "podinfo", v1beta1.PhaseWaitingPromotion, 2*time.Minute)
	waitFor(t, 30*time.Second, "the promotion gate to hold twice", func() bool {
		n := 0
		for _, e := range canaryEvents(t, state, "podinfo") {
			if strings.Contains(e.Message, "Waiting for approval to promote") && strings.Contains(e.Message, "promotion-gate") {
				n++
			}
		}
		return n >= 2
	})
	if c, _ := canaryOf(t, state, "podinfo"); c.Status.CanaryWeight != 100 {
		t.Fatalf("held at weight %d, want 100", c.Status.CanaryWeight)
	}
	lt := "http://" + loadtesterAddr(t, bin, state)
	if code, body := postJSON(t, lt+"/gate/open", `{"name":"podinfo","namespace":"test"}`, ""); code != 202 {
		t.Fatalf("POST /gate/open = %d %q", code, body)
	}
	waitPhase(t, state, "podinfo", v1beta1.PhaseSucceeded, time.Minute)

	// The loadtester ran the acceptance test, blocking, and the load, both
	// by the names, against podinfo-canary.
	logs, err := cli(t, bin, state, "logs", "deploy/flagger-loadtester")
	if err != nil {
		t.Fatalf("logs: %v\n%s", err, logs)
	}
	canaryURL := fmt.Sprintf("http://podinfo-canary.test:%d/", port)
	if n := countLines(logs, `"msg":"task finished"`, "hey -n 20 -c 2 "+canaryURL, "20 requests to "+canaryURL+": 20 answered below 500"); n != 1 {
		t.Errorf("the acceptance test finished %d times with 20 answers, want once:\n%s", n, logs)
	}
	if countLines(logs, `"msg":"task starting"`, "hey -z 1m -q 10 -c 2 "+canaryURL) == 0 {
		t.Errorf("the load test never started:\n%s", logs)
	}
	if countLines(logs, `"msg":"task failed"`) > 0 || countLines(logs, `"msg":"task refused"`) > 0 {
		t.Errorf("a task failed or was refused:\n%s", logs)
	}
}

// TestValidateNamesLocal: a Canary whose webhook names a loadtester that
// does not run locally is refused by validate --local and by run, with
// its file and line, before anything runs.
func TestValidateNamesLocal(t *testing.T) {
	bin := serin(t)
	dir, _ := walkthroughFiles(t)
	if err := os.Remove(filepath.Join(dir, "loadtester.yaml")); err != nil {
		t.Fatal(err)
	}
	want := "canary.yaml:44: spec.analysis.webhooks[0].url: http://flagger-loadtester.test/: no service flagger-loadtester in namespace test runs locally"
	for _, args := range [][]string{{"validate", "--local", "-f", dir}, {"run", "-f", dir, "--state-dir", t.TempDir()}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("serin %s: %v, want %q in:\n%s", args[0], err, want, out)
		}
	}
}
