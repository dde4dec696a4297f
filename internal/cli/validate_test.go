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
