package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
)

// fuzzSeeds are the examples, the test data and a few documents that probe
// the corners of YAML.
func fuzzSeeds(f *testing.F) {
	f.Helper()
	for _, pattern := range []string{"../../examples/*/*.yaml", "../../examples/*/*/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"---\n---\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n",
		"a: &a [*a]\n",
		"<<: [*x]\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x}\ndata:\n  <<: *m\n",
		`{"apiVersion": "serin.dev/v1beta1", "kind": "Canary", "spec": {"analysis": {"stepWeights": [1, 0, 200]}}}`,
		"apiVersion: serin.dev/v1beta1\nkind: Canary\nspec:\n  service:\n    targetPort: -1\n  analysis:\n    judge: {alpha: .nan}\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - resources: {limits: {cpu: 1e400}}\n",
		"? [a, b]\n: c\n",
		"!!binary aGVsbG8=\n",
		"apiVersion: v1\nkind: Secret\ndata: {a: !!binary aGVsbG8=}\nstringData: {b: 1}\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode checks that no input makes the loader panic, and that what it
// decodes it can describe.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Decode(bytes.NewReader(data), "fuzz.yaml")
		if set == nil {
			t.Fatal("Decode returned a nil Set")
		}
		if err != nil {
			ps, ok := err.(Problems)
			if !ok || len(ps) == 0 {
				t.Fatalf("error %T %v is not a non-empty Problems", err, err)
			}
			_ = ps.Error()
		}
		for _, o := range set.Objects {
			if o.Object == nil {
				t.Fatal("nil object")
			}
			_ = o.Line("spec.analysis.metrics[0].thresholdRange")
			_ = o.Line("metadata.labels[app]")
		}
	})
}

// FuzzValidate checks that validating and defaulting whatever decodes never
// panics, and that Default never makes a valid Canary invalid.
func FuzzValidate(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, _ := Decode(bytes.NewReader(data), "fuzz.yaml")
		for _, opts := range []v1beta1.ValidationOptions{{}, {MinInterval: v1beta1.MinIntervalLocal}} {
			_ = set.Validate(opts)
		}
		for _, c := range set.Canaries() {
			valid := len(v1beta1.ValidateCanary(c, v1beta1.ValidationOptions{})) == 0
			_ = c.Strategy()
			_ = c.Spec.Analysis.IntervalDuration()
			_ = c.Spec.Analysis.EvaluationInterval()
			_ = c.Spec.Analysis.EffectiveMaxWeight()
			d := c.DeepCopy()
			d.Default()
			if errs := v1beta1.ValidateCanary(d, v1beta1.ValidationOptions{}); valid && len(errs) > 0 {
				t.Fatalf("Default made a valid Canary invalid: %v", errs)
			}
		}
		for _, m := range set.MetricTemplates() {
			_ = v1beta1.ValidateMetricTemplate(m, v1beta1.ValidationOptions{})
		}
		for _, p := range set.AlertProviders() {
			_ = v1beta1.ValidateAlertProvider(p)
		}
	})
}
