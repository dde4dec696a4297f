package manifest

import (
	"slices"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
)

func TestValidateMessages(t *testing.T) {
	doc := `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  provider: istio
  targetRef:
    name: ""
  service:
    port: 9898
  analysis:
    interval: 5s
    iterations: 10
    stepWeight: 10
    webhooks:
    - name: load
      url: http://loadtester/
    - name: load
      type: rollout
      url: http://loadtester/
    judge:
      type: sequential
      alpha: 0.7
---
apiVersion: v1
kind: Service
metadata:
  namespace: test
---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: on-call
spec:
  type: slack
`
	set, err := decodeString(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`in.yaml:6: spec.provider: another mesh's or ingress's provider: serin drives Linkerd (SMI TrafficSplit), Gateway API HTTPRoutes and plain Kubernetes (blue/green), so its fields for other meshes have no effect; want one of "linkerd", "smi", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "gatewayapi", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes", got "istio"`,
		`in.yaml:8: spec.targetRef.name: required`,
		`in.yaml:12: spec.analysis.interval: must be at least 10s, got "5s"`,
		`in.yaml:14: spec.analysis.stepWeight: not allowed with iterations: iterations make a blue/green or A/B release, stepWeight a canary release`,
		`in.yaml:18: spec.analysis.webhooks[1].name: duplicate value "load"`,
		`in.yaml:23: spec.analysis.judge.alpha: must be greater than 0 and less than 0.5, got 0.7`,
		`in.yaml:25: metadata.name: required`,
		`in.yaml:34: spec.address: required unless secretRef is set`,
	}
	got := problemStrings(t, set.Validate(v1beta1.ValidationOptions{}))
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}

	// The local runtime allows shorter intervals.
	got = problemStrings(t, set.Validate(v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal}))
	if slices.Contains(got, want[2]) || len(got) != len(want)-1 {
		t.Errorf("local: got %q", got)
	}
}

func TestValidateEmptySet(t *testing.T) {
	if err := (&Set{}).Validate(v1beta1.ValidationOptions{}); err != nil {
		t.Errorf("Validate of an empty set: %v", err)
	}
}

func TestWrittenZeroThresholdWarns(t *testing.T) {
	canary := func(threshold string) string {
		return `apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  targetRef:
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 10s
    stepWeight: 10` + threshold + "\n"
	}
	set, err := decodeString(t, canary("\n    threshold: 0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(v1beta1.ValidationOptions{}); err != nil {
		t.Errorf("written threshold 0 is refused: %v", err)
	}
	want := []string{`in.yaml:13: warning: spec.analysis.threshold: 0 reads as the default, 1 failed check, as in Flagger`}
	if got := problemStrings(t, set.Warnings(v1beta1.ValidationOptions{}).orNil()); !slices.Equal(got, want) {
		t.Errorf("written threshold 0: got %q, want %q", got, want)
	}
	// Left out, it is the default (1).
	set, err = decodeString(t, canary(""))
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(v1beta1.ValidationOptions{}); err != nil {
		t.Errorf("threshold left out: %v", err)
	}
	if ws := set.Warnings(v1beta1.ValidationOptions{}); len(ws) != 0 {
		t.Errorf("threshold left out: warnings %v", ws)
	}
}

// checkOnePass decodes a Canary whose spec is spec and validates it, and
// compares every problem of both passes with want.
func checkOnePass(t *testing.T, spec string, want ...string) {
	t.Helper()
	set, err := decodeString(t, "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\nspec:\n"+
		"  targetRef:\n    name: podinfo\n"+spec)
	got := problemStrings(t, err)
	got = append(got, problemStrings(t, set.Validate(v1beta1.ValidationOptions{}))...)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

// An unknown field does not hide the other problems of its object: the
// object is decoded without it and validated in the same pass.
func TestValidateOnePass(t *testing.T) {
	checkOnePass(t, `  service:
    port: 9898
    colour: blue
  analysis:
    interval: soon
    stepWeight: ten
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
        max: 90
`,
		`in.yaml:13: spec.analysis.stepWeight: must be an integer, got string "ten"`,
		`in.yaml:10: spec.service.colour: unknown field`,
		`in.yaml:12: spec.analysis.interval: must be a duration such as 30s or 1m, got "soon"`,
		`in.yaml:17: spec.analysis.metrics[0].thresholdRange.min: must not exceed max (90), got 99`)
}

// A misspelt field is reported once: the field it was meant for, left
// unset by the typo, is not reported as missing too.
func TestValidateTypoReportedOnce(t *testing.T) {
	checkOnePass(t, "  service:\n    port: 9898\n  canaryAnalysis:\n    interval: 1m\n    stepweight: 10\n",
		`in.yaml:10: spec.canaryAnalysis: unknown field: Flagger's v1alpha3 name: v1beta1 calls it analysis`)
	checkOnePass(t, "  service:\n    port: 9898\n  analysis:\n    interval: 1m\n    stepweight: 10\n",
		`in.yaml:12: spec.analysis.stepweight: unknown field, did you mean "stepWeight"?`)
}
