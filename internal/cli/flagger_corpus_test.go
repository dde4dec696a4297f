package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/manifest"
)

// TestFlaggerCorpusValidateAgreesWithController runs Canaries in the shapes
// of Flagger's documentation and end-to-end tests for Linkerd, Gateway API
// and the kubernetes provider (testdata/flagger: accepted/ and refused/)
// through serin validate and through the check the controller makes
// before it ticks a Canary (kube.Admission), and asserts that they agree:
// the same Canaries refused, for the same fields and reasons, and the same
// warnings.
func TestFlaggerCorpusValidateAgreesWithController(t *testing.T) {
	files, err := filepath.Glob("testdata/flagger/*/*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("corpus: %v %v", files, err)
	}
	admission := kube.Admission{MinInterval: kube.DefaultMinInterval}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			out, _, cliErr := runCLI(t, "", "validate", "-f", file)
			var cliErrors, cliWarnings []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				rest, ok := strings.CutPrefix(line, file+":")
				if !ok {
					continue
				}
				_, rest, _ = strings.Cut(rest, ": ") // the line number
				if w, isWarning := strings.CutPrefix(rest, "warning: "); isWarning {
					cliWarnings = append(cliWarnings, w)
				} else {
					cliErrors = append(cliErrors, rest)
				}
			}

			// What the controller sees: each Canary as the API server
			// stores it (a JSON round trip), through its admission check.
			set, err := manifest.LoadPaths(file)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			var ctrlErrors, ctrlWarnings []string
			for _, c := range set.Canaries() {
				stored := roundTrip(t, c)
				errs, ws := admission.Check(stored)
				for _, e := range errs {
					ctrlErrors = append(ctrlErrors, e.Field+": "+v1beta1.ErrorMessage(e))
				}
				for _, w := range ws {
					ctrlWarnings = append(ctrlWarnings, w.String())
				}
			}

			refused := strings.Contains(file, "/refused/")
			if refused != (cliErr != nil) || refused != (len(ctrlErrors) > 0) {
				t.Fatalf("refused: want %t; validate: %v; controller: %q\n%s", refused, cliErr, ctrlErrors, out)
			}
			slices.Sort(cliErrors)
			slices.Sort(ctrlErrors)
			if !slices.Equal(cliErrors, ctrlErrors) {
				t.Errorf("errors differ:\nvalidate:   %q\ncontroller: %q", cliErrors, ctrlErrors)
			}
			// A written threshold of 0 is told apart from an unset one only
			// in the manifest: the controller reads both as the default.
			cliWarnings = slices.DeleteFunc(cliWarnings, func(w string) bool { return strings.HasPrefix(w, "spec.analysis.threshold: ") })
			slices.Sort(cliWarnings)
			slices.Sort(ctrlWarnings)
			if !slices.Equal(cliWarnings, ctrlWarnings) {
				t.Errorf("warnings differ:\nvalidate:   %q\ncontroller: %q", cliWarnings, ctrlWarnings)
			}
		})
	}
}

// TestFlaggerCorpusWarnings pins the warnings of the lenient and the
// Istio-shaped fixtures.
func TestFlaggerCorpusWarnings(t *testing.T) {
	for file, want := range map[string][]string{
		"testdata/flagger/accepted/lenient.yaml": {
			"lenient.yaml:32: warning: spec.analysis.threshold: 0 reads as the default, 1 failed check, as in Flagger",
			"lenient.yaml:33: warning: spec.analysis.maxWeight: has no effect: stepWeights go up to 80 and win, as in Flagger",
			"lenient.yaml:34: warning: spec.analysis.stepWeight: has no effect: stepWeights are set and win, as in Flagger",
			`lenient.yaml:50: warning: spec.analysis.metrics[0].interval: "1min" is read as 1m`,
		},
		"testdata/flagger/accepted/istio-without-provider.yaml": {
			"istio-without-provider.yaml:16: warning: spec.service.gateways: has no effect: serin's routers do not read it (Flagger reads it for Istio); serin drives Linkerd",
			"istio-without-provider.yaml:18: warning: spec.service.trafficPolicy: has no effect",
			"istio-without-provider.yaml:21: warning: spec.service.retries: has no effect",
		},
	} {
		out, _, err := runCLI(t, "", "validate", "-f", file)
		if err != nil {
			t.Errorf("%s: %v\n%s", file, err, out)
			continue
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", file, w, out)
			}
		}
		if !strings.Contains(out, "OK: ") || !strings.Contains(out, "warnings\n") {
			t.Errorf("%s: output %q, want OK with a count of warnings", file, out)
		}
	}
}

func roundTrip(t *testing.T, c *v1beta1.Canary) *v1beta1.Canary {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := &v1beta1.Canary{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFlaggerCorpusLocal: with --local, validate refuses what the local
// runtime does not run (a DaemonSet target) with the line serin run gives.
func TestFlaggerCorpusLocal(t *testing.T) {
	out, _, err := runCLI(t, "", "validate", "--local", "-f", "testdata/flagger/accepted/daemonset.yaml")
	if err == nil || !strings.Contains(out, "daemonset.yaml:11: spec.targetRef.kind: "+v1beta1.LocalDaemonSet) {
		t.Errorf("validate --local of a DaemonSet Canary: %v\n%s", err, out)
	}
}
