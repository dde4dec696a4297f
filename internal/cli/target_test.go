package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: test}
current-context: ctx
`

// parse returns targetFlags parsed from args on a fresh command.
func parse(t *testing.T, args ...string) *targetFlags {
	t.Helper()
	var tf targetFlags
	cmd := &cobra.Command{Use: "x"}
	tf.add(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return &tf
}

func TestTargetChoice(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	state := t.TempDir() // no local instance runs there
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(name string, tf *targetFlags, wantCluster bool, wantNS string) {
		t.Helper()
		tg, err := tf.target()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, isCluster := tg.(clusterTarget); isCluster != wantCluster {
			t.Errorf("%s: cluster = %v, want %v", name, isCluster, wantCluster)
		}
		if ns, _ := tf.ns(tg); ns != wantNS {
			t.Errorf("%s: namespace %q, want %q", name, ns, wantNS)
		}
	}
	check("--state-dir", parse(t, "--state-dir", state), false, "")
	none := parse(t)
	none.stateDir = state // the default state directory, with no instance
	check("no local instance and no kubeconfig", none, false, "")
	check("--kubeconfig", parse(t, "--kubeconfig", kc), true, "test")
	check("--kubeconfig -n", parse(t, "--kubeconfig", kc, "-n", "prod"), true, "prod")
	check("--kubeconfig -A", parse(t, "--kubeconfig", kc, "-A"), true, "")

	t.Setenv("KUBECONFIG", kc)
	check("--state-dir wins over $KUBECONFIG", parse(t, "--state-dir", state), false, "")
	tf := parse(t)
	tf.stateDir = state // the default state directory, with no instance
	check("$KUBECONFIG and no local instance", tf, true, "test")
	if _, err := parse(t, "-A", "-n", "x").ns(localTarget{}); err == nil {
		t.Error("-A with -n accepted")
	}
}

func TestKubectlPluginName(t *testing.T) {
	if got := NewRootCommandFor("/usr/local/bin/kubectl-serin").DisplayName(); got != "kubectl serin" {
		t.Errorf("as kubectl-serin: shown as %q", got)
	}
	if got := NewRootCommandFor("serin").DisplayName(); got != "serin" {
		t.Errorf("as serin: shown as %q", got)
	}
}

func TestLogsOnClusterPointsToKubectl(t *testing.T) {
	err := clusterTarget{}.Logs(t.Context(), "test", "podinfo", false, nil)
	if err == nil || !strings.Contains(err.Error(), "kubectl -n test logs deploy/podinfo") {
		t.Errorf("logs on a cluster: %v", err)
	}
}

// set image takes a Deployment or a DaemonSet; the local runtime runs
// Deployments only, which it says before reaching any instance.
func TestSetImageKinds(t *testing.T) {
	state := t.TempDir()
	for arg, want := range map[string]string{
		"daemonset/agent":    "daemonset/agent: the local runtime runs Deployments only; a DaemonSet is released on a cluster (--kubeconfig)",
		"ds/agent":           "daemonset/agent: the local runtime runs Deployments only",
		"statefulset/db":     `want deployment/NAME or daemonset/NAME, got "statefulset/db"`,
		"daemonset/":         `want deployment/NAME or daemonset/NAME, got "daemonset/"`,
		"deployment/podinfo": "no serin is running",
	} {
		_, _, err := runCLI(t, "", "set", "image", arg, "app=podinfo:2", "--state-dir", state)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("set image %s: %v, want %q", arg, err, want)
		}
	}
}
