package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the serin command tree in-process.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestValidateExamples(t *testing.T) {
	out, _, err := runCLI(t, "", "validate", "-f", "../../examples/podinfo")
	if err != nil {
		t.Fatalf("validate examples/podinfo: %v\n%s", err, out)
	}
	files, err := filepath.Glob("../../examples/podinfo/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	if !strings.HasPrefix(out, "OK: ") || !strings.HasSuffix(out, " files\n") {
		t.Errorf("output %q, want OK: N objects in M files", out)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	out, _, err := runCLI(t, "", "validate", "-f", "../../examples/broken")
	if err == nil {
		t.Fatalf("validate examples/broken succeeded:\n%s", out)
	}
	if !strings.Contains(err.Error(), "problems in 2 files") {
		t.Errorf("error %q", err)
	}
	for _, want := range []string{
		"../../examples/broken/canary.yaml:17: spec.analysis.stepWeight: must be between 1 and 100, got 0\n",
		`../../examples/broken/typo.yaml:15: spec.analysis.stepweight: unknown field, did you mean "stepWeight"?` + "\n",
		`../../examples/broken/canary.yaml:28: spec.analysis.webhooks[0].type: unsupported value "during-rollout"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestValidateStdinAndLocal(t *testing.T) {
	canary, err := os.ReadFile("../../examples/podinfo/canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.Replace(string(canary), "interval: 10s", "interval: 2s", 1)

	out, _, err := runCLI(t, fast, "validate", "-f", "-")
	if err == nil || !strings.Contains(out, `<stdin>:17: spec.analysis.interval: must be at least 10s, got "2s"`) {
		t.Errorf("kubernetes: err %v, output %q", err, out)
	}
	out, _, err = runCLI(t, fast, "validate", "--local", "-f", "-")
	if err != nil || out != "OK: 1 object in 1 file\n" {
		t.Errorf("--local: err %v, output %q", err, out)
	}
}

func TestValidateNeedsFiles(t *testing.T) {
	if _, _, err := runCLI(t, "", "validate"); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Errorf("got %v, want an error asking for -f", err)
	}
}

// TestValidateLocalReportsWhatRunRefuses: serin validate --local reports,
// with file and line, what serin run would refuse, and serin run refuses
// the same lines without starting anything.
func TestValidateLocalReportsWhatRunRefuses(t *testing.T) {
	dir := t.TempDir()
	app := `apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}
spec:
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec:
      containers:
        - {name: podinfod, command: [serin, podinfo]}
---
apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: test}
spec:
  selector: {app: podinfo}
  ports: [{port: 19898}]
---
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: test}
spec:
  selector: {app: frontend}
  ports: [{port: 19898}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: test}
data: {COLOR: blue}
`
	canary := `apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 19898}
  analysis: {interval: 1s, threshold: 5, stepWeight: 10}
`
	appFile := filepath.Join(dir, "app.yaml")
	canaryFile := filepath.Join(dir, "canary.yaml")
	if err := os.WriteFile(appFile, []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(strings.Replace(canary, "name: podinfo, namespace", "name: podinfo-b, namespace", 1),
		"service: {port: 19898}", "service: {port: 19898, name: podinfo}", 1)
	if err := os.WriteFile(canaryFile, []byte(canary+"---\n"+canary+"---\n"+other), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		appFile + ":24: spec.ports[0].port: port 19898 is also the port of service test/podinfo (at " + appFile + ":12)",
		appFile + ":27: kind: ConfigMap is not supported by the local runtime",
		canaryFile + ":11: metadata.name: canary test/podinfo is written twice (also at " + canaryFile + ":1)",
		canaryFile + ":21: spec.targetRef.name: deployment test/podinfo is also the target of canary test/podinfo (at " + canaryFile + ":1)",
	}
	out, _, err := runCLI(t, "", "validate", "--local", "-f", appFile, "-f", canaryFile)
	if err == nil || !strings.Contains(err.Error(), "4 problems in 2 files") {
		t.Errorf("validate --local: err %v, want 4 problems in 2 files", err)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("validate --local: want %q in:\n%s", w, out)
		}
	}
	state := t.TempDir()
	_, _, err = runCLI(t, "", "run", "--state-dir", state, "-f", appFile, "-f", canaryFile)
	if err == nil {
		t.Fatal("serin run accepted what validate --local refuses")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("serin run: want %q in:\n%v", w, err)
		}
	}
	if entries, _ := os.ReadDir(state); len(entries) > 0 {
		t.Errorf("serin run refused the manifests but wrote %d entries in the state directory", len(entries))
	}
}

// A configuration of serin proxy is checked as serin proxy --config reads
// it, each problem on its field's line; --local refuses it, as serin run
// does.
func TestValidateProxyConfig(t *testing.T) {
	out, _, err := runCLI(t, "", "validate", "-f", "../../examples/proxy")
	if err != nil || out != "OK: 1 proxy configuration in 1 file\n" {
		t.Errorf("examples/proxy: err %v, output %q", err, out)
	}

	bad := `admin: 127.0.0.1:18090
routes:
- name: podinfo
  listen: 127.0.0.1:18080
  backends:
  - name: primary
    weight: ten
    endpoints: [127.0.0.1:18081]
  - name: primary
    weight: 1
    endpoint: [127.0.0.1:18082]
---
apiVersion: v1
kind: Namespace
metadata: {name: test}
`
	out, _, err = runCLI(t, bad, "validate", "-f", "-")
	if err == nil {
		t.Fatalf("a bad proxy configuration passed:\n%s", out)
	}
	for _, want := range []string{
		`<stdin>:7: routes[0].backends[0].weight: must be an integer, got the string "ten"`,
		`<stdin>:11: routes[0].backends[1].endpoint: unknown field`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Past the shape, what Validate finds, on the lines of its fields.
	fixed := strings.NewReplacer("weight: ten", "weight: 1", "endpoint:", "endpoints:").Replace(bad)
	out, _, err = runCLI(t, fixed, "validate", "-f", "-")
	if err == nil || !strings.Contains(out, `<stdin>:9: routes[0].backends[1].name: duplicates backends[0].name "primary"`) {
		t.Errorf("duplicate backend: err %v, output:\n%s", err, out)
	}
	fixed = strings.Replace(fixed, "- name: primary\n    weight: 1\n    endpoints: [127.0.0.1:18082]", "- name: canary\n    weight: 1\n    endpoints: [127.0.0.1:18082]", 1)
	out, _, err = runCLI(t, fixed, "validate", "-f", "-")
	if err != nil || out != "OK: 1 object, 1 proxy configuration in 1 file\n" {
		t.Errorf("fixed: err %v, output %q", err, out)
	}

	out, _, err = runCLI(t, "", "validate", "--local", "-f", "../../examples/proxy")
	if err == nil || !strings.Contains(out, "split-90-10.yaml:8: a configuration of serin proxy") {
		t.Errorf("--local: err %v, output %q", err, out)
	}
}
