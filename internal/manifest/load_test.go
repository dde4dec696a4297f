package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/serinhq/serin/api/v1beta1"
)

func decodeString(t *testing.T, doc string) (*Set, error) {
	t.Helper()
	return Decode(strings.NewReader(doc), "in.yaml")
}

func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("error %T is not Problems: %v", err, err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

func TestLoadExamples(t *testing.T) {
	set, err := LoadPaths("../../examples/podinfo")
	if err != nil {
		t.Fatalf("LoadPaths: %v", err)
	}
	for _, opts := range []v1beta1.ValidationOptions{{}, {MinInterval: v1beta1.MinIntervalLocal}} {
		if err := set.Validate(opts); err != nil {
			t.Errorf("Validate(%+v):\n%v", opts, err)
		}
	}
	var fromFlagger *v1beta1.Canary
	for _, c := range set.Canaries() {
		if gvk := c.GroupVersionKind(); gvk != v1beta1.GroupVersion.WithKind("Canary") {
			t.Errorf("%s: got %v, want serin.dev/v1beta1 Canary", c.Name, gvk)
		}
		if set.Find(c).Source.APIVersion == "flagger.app/v1beta1" {
			fromFlagger = c
		}
	}
	if fromFlagger == nil {
		t.Fatal("no Canary read from flagger.app/v1beta1")
	}
	if got := fromFlagger.Spec.Analysis.StepWeight; got != 10 {
		t.Errorf("Flagger canary stepWeight = %d, want 10", got)
	}
}

func TestFlaggerCanaryConvertsUnchanged(t *testing.T) {
	data, err := os.ReadFile("testdata/flagger-ab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromFlagger, err := decodeString(t, string(data))
	if err != nil {
		t.Fatalf("flagger.app: %v", err)
	}
	serin := strings.ReplaceAll(string(data), "flagger.app/v1beta1", "serin.dev/v1beta1")
	fromSerin, err := decodeString(t, serin)
	if err != nil {
		t.Fatalf("serin.dev: %v", err)
	}
	if len(fromFlagger.Objects) != 3 {
		t.Fatalf("got %d objects, want 3", len(fromFlagger.Objects))
	}
	for i := range fromFlagger.Objects {
		a, b := fromFlagger.Objects[i].Object, fromSerin.Objects[i].Object
		if !reflect.DeepEqual(a, b) {
			t.Errorf("object %d differs:\nflagger: %+v\nserin:   %+v", i, a, b)
		}
	}
	if err := fromFlagger.Validate(v1beta1.ValidationOptions{}); err != nil {
		t.Errorf("Validate: %v", err)
	}
	c := fromFlagger.Canaries()[0]
	if c.Strategy() != v1beta1.StrategyABTesting {
		t.Errorf("strategy = %s, want ABTesting", c.Strategy())
	}
	if got := c.Spec.Analysis.Match[0].Headers["x-canary"].Exact; got != "insider" {
		t.Errorf("match header = %q", got)
	}
	if c.Spec.Service.Retries == nil || !strings.Contains(string(c.Spec.Service.Retries.Raw), `"attempts":3`) {
		t.Errorf("service.retries not kept: %v", c.Spec.Service.Retries)
	}
}

func TestDecodeProblems(t *testing.T) {
	const canary = `apiVersion: serin.dev/v1beta1
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
`
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{name: "near miss", doc: canary + "    stepweight: 10\n",
			want: []string{`in.yaml:12: spec.analysis.stepweight: unknown field, did you mean "stepWeight"?`}},
		{name: "misspelt", doc: canary + "    stepWieght: 10\n",
			want: []string{`in.yaml:12: spec.analysis.stepWieght: unknown field, did you mean "stepWeight"?`}},
		{name: "unknown field without suggestion", doc: canary + "    color: blue\n",
			want: []string{`in.yaml:12: spec.analysis.color: unknown field`}},
		{name: "unknown field in a list", doc: canary + "    metrics:\n    - name: request-duration\n    - name: request-success-rate\n      tresholdRange: {min: 99}\n",
			want: []string{`in.yaml:15: spec.analysis.metrics[1].tresholdRange: unknown field, did you mean "thresholdRange"?`}},
		{name: "every unknown field", doc: canary + "    stepweight: 10\n    maxweight: 50\n",
			want: []string{
				`in.yaml:13: spec.analysis.maxweight: unknown field, did you mean "maxWeight"?`,
				`in.yaml:12: spec.analysis.stepweight: unknown field, did you mean "stepWeight"?`,
			}},
		{name: "wrong type", doc: canary + "    stepWeight: ten\n",
			want: []string{`in.yaml:12: spec.analysis.stepWeight: must be an integer, got string "ten"`}},
		{name: "fraction for an integer", doc: canary + "    stepWeight: 2.5\n",
			want: []string{`in.yaml:12: spec.analysis.stepWeight: must be an integer of 64 bits, got 2.5`}},
		{name: "out of range", doc: strings.Replace(canary, "9898", "99999999999", 1),
			want: []string{`in.yaml:9: spec.service.port: must be an integer of 32 bits, got 99999999999`}},
		{name: "unquoted boolean label", doc: strings.Replace(canary, "  name: podinfo\nspec", "  name: podinfo\n  labels:\n    canary: true\nspec", 1),
			want: []string{`in.yaml:6: metadata.labels[canary]: must be a string, got boolean true (quote it)`}},
		{name: "duplicate key", doc: canary + "    interval: 20s\n",
			want: []string{`in.yaml:12: spec.analysis.interval: duplicate key "interval"`}},
		{name: "object for a string", doc: strings.Replace(canary, "interval: 10s", "interval: {seconds: 10}", 1),
			want: []string{`in.yaml:11: spec.analysis.interval: must be a string, got an object`}},
		{name: "list for an object", doc: strings.Replace(canary, "  service:\n    port: 9898", "  service:\n  - port: 9898", 1),
			want: []string{`in.yaml:8: spec.service: must be an object, got a list`}},
		{name: "missing kind", doc: "apiVersion: v1\nmetadata:\n  name: x\n",
			want: []string{`in.yaml:1: kind: kind is required (a string)`}},
		{name: "missing apiVersion", doc: "\n\nkind: Service\n",
			want: []string{`in.yaml:3: apiVersion: apiVersion is required (a string)`}},
		{name: "unsupported kind", doc: "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n",
			want: []string{`in.yaml:2: kind: unsupported kind "Ingress" of apiVersion "networking.k8s.io/v1" (supported: ` + supportedKinds + `)`}},
		{name: "old Flagger version", doc: strings.Replace(canary, "serin.dev/v1beta1", "flagger.app/v1alpha3", 1),
			want: []string{`in.yaml:1: apiVersion: flagger.app/v1alpha3 is Flagger's API before v1beta1: set apiVersion to flagger.app/v1beta1 or serin.dev/v1beta1, and rename spec.canaryAnalysis to spec.analysis, as Flagger's upgrade guide says`}},
		{name: "old Flagger analysis", doc: strings.Replace(canary, "  analysis:", "  canaryAnalysis:", 1),
			want: []string{`in.yaml:10: spec.canaryAnalysis: unknown field: Flagger's v1alpha3 name: v1beta1 calls it analysis`}},
		{name: "syntax error", doc: "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: [a\n",
			want: []string{`in.yaml:5: did not find expected ',' or ']'`}},
		{name: "bad indentation", doc: "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n labels: {}\n",
			want: []string{`in.yaml:5: did not find expected key`}},
		{name: "tab indentation", doc: "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n",
			want: []string{`in.yaml:4: found character that cannot start any token`}},
		{name: "not an object", doc: "- a\n- b\n",
			want: []string{`in.yaml:1: document must be an object, got a list`}},
		{name: "infinite number", doc: canary + "    threshold: .inf\n",
			want: []string{`in.yaml:12: spec.analysis.threshold: number .inf is not finite`}},
		{name: "empty documents are skipped", doc: "---\n# nothing\n---\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := decodeString(t, tt.doc)
			got := problemStrings(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
			// A field's problem leaves the rest of the object to be
			// validated; a document that does not parse yields nothing.
			if len(tt.want) > 0 && len(set.Objects) > 1 {
				t.Errorf("got %d objects from a broken document, want at most 1", len(set.Objects))
			}
		})
	}
}

func TestMultiDocumentLines(t *testing.T) {
	doc := `# podinfo
apiVersion: v1
kind: Namespace
metadata:
  name: test
---
---
apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 10s
    stepWeight: 0
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 99, max: 50}
`
	set, err := decodeString(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Objects) != 2 {
		t.Fatalf("got %d objects, want 2", len(set.Objects))
	}
	if got, want := set.Objects[1].Source, (Source{File: "in.yaml", Document: 2, Line: 8, APIVersion: "serin.dev/v1beta1"}); got != want {
		t.Errorf("source = %+v, want %+v", got, want)
	}
	want := []string{
		"in.yaml:20: spec.analysis.stepWeight: must be between 1 and 100, got 0",
		"in.yaml:23: spec.analysis.metrics[0].thresholdRange.min: must not exceed max (50), got 99",
	}
	if got := problemStrings(t, set.Validate(v1beta1.ValidationOptions{})); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestJSON(t *testing.T) {
	doc := `{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "podinfo"},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "podinfo"}},
    "template": {"spec": {"containers": [{"name": "podinfod", "image": "podinfo:1.7.0", "ports": [{"containerPort": "9898"}]}]}}
  }
}`
	_, err := Decode(strings.NewReader(doc), "podinfo.json")
	want := []string{`podinfo.json:8: spec.template.spec.containers[0].ports[0].containerPort: must be an integer, got string "9898"`}
	if got := problemStrings(t, err); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	set, err := Decode(strings.NewReader(strings.Replace(doc, `"9898"`, "9898", 1)), "podinfo.json")
	if err != nil {
		t.Fatal(err)
	}
	d := set.Deployments()
	if len(d) != 1 || *d[0].Spec.Replicas != 2 || d[0].Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 9898 {
		t.Errorf("decoded %+v", d)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ns := func(name string) string { return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n" }
	write("b.yaml", ns("b"))
	write("a.yml", ns("a"))
	write("sub/c.json", `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}`)
	write("sub/notes.txt", "not a manifest")
	write(".git/config.yaml", "not: [valid")
	write("kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")

	set, err := LoadPaths(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "sub/c.json")}
	if !slices.Equal(set.Files, wantFiles) {
		t.Errorf("files = %q, want %q", set.Files, wantFiles)
	}
	var names []string
	for _, n := range set.Namespaces() {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("namespaces = %q", names)
	}

	_, err = LoadPaths(filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "sub/notes.txt"))
	want := []string{
		filepath.Join(dir, "missing.yaml") + ": no such file or directory",
		filepath.Join(dir, "sub/notes.txt") + ":1: document must be an object, got string \"not a manifest\"",
	}
	if got := problemStrings(t, err); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}

	empty := t.TempDir()
	_, err = LoadPaths(empty)
	if got := problemStrings(t, err); len(got) != 1 || !strings.Contains(got[0], "no manifests") {
		t.Errorf("empty directory: %q", got)
	}
}

func TestStdin(t *testing.T) {
	l := Loader{Stdin: strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: test\n  nme: x\n")}
	_, err := l.Load(Stdin)
	want := []string{`<stdin>:5: metadata.nme: unknown field, did you mean "name"?`}
	if got := problemStrings(t, err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKeepUnknown(t *testing.T) {
	doc := "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  anything: goes\n"
	set, err := Loader{KeepUnknown: true}.Decode(strings.NewReader(doc), "in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := set.Objects[0].Object.(*unstructured.Unstructured)
	if !ok || u.GetKind() != "Ingress" || u.GetName() != "web" {
		t.Errorf("got %#v", set.Objects[0].Object)
	}
}

func TestList(t *testing.T) {
	doc := `apiVersion: v1
kind: List
items:
- apiVersion: flagger.app/v1beta1
  kind: Canary
  metadata:
    name: podinfo
  spec:
    targetRef: {name: podinfo}
    service: {port: 9898}
    analysis: {stepWeight: 10}
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: podinfo
  spec:
    replica: 1
`
	set, err := decodeString(t, doc)
	want := []string{`in.yaml:17: spec.replica: unknown field, did you mean "replicas"?`}
	if got := problemStrings(t, err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(set.Canaries()) != 1 || set.Objects[0].Source.Line != 4 {
		t.Fatalf("objects = %+v", set.Objects)
	}
	if l := set.Objects[0].Line("spec.service.port"); l != 10 {
		t.Errorf("line of spec.service.port = %d, want 10", l)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	doc := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels: &labels
    app: podinfo
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
        version: "1.7.0"
`
	set, err := decodeString(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	d := set.Deployments()[0]
	want := map[string]string{"app": "podinfo", "version": "1.7.0"}
	if !reflect.DeepEqual(d.Spec.Template.Labels, want) || d.Spec.Selector.MatchLabels["app"] != "podinfo" {
		t.Errorf("labels = %v, selector = %v", d.Spec.Template.Labels, d.Spec.Selector)
	}
	var _ *appsv1.Deployment = d
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nx0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := decodeString(t, b.String())
	if got := problemStrings(t, err); len(got) != 1 || !strings.Contains(got[0], "too large") {
		t.Errorf("got %q, want a size problem", got)
	}
}

func TestLineLookup(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\n  annotations:\n    serin.dev/owner: team\nspec:\n  ports:\n  - port: 9898\n"
	set, err := decodeString(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	o := set.Objects[0]
	for path, want := range map[string]int{
		"":                                      1,
		"metadata.annotations[serin.dev/owner]": 6,
		"spec.ports[0].port":                    9,
		"spec.ports[0].targetPort":              9,
		"spec.ports[3]":                         8,
		"spec.selector":                         7,
	} {
		if got := o.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
}

// A configuration of serin proxy goes to Loader.ProxyConfig, whose
// problems land on the lines of their field paths; without the hook it is
// refused as not a manifest.
func TestProxyConfig(t *testing.T) {
	doc := "admin: 127.0.0.1:9990\nroutes:\n- name: a\n  backends:\n  - name: b\n    weight: 1\n"
	var got []byte
	l := Loader{ProxyConfig: func(data []byte) []string {
		got = data
		return []string{"routes[0].backends[0].weight: too light", "(document): whole", "not YAML or JSON: odd", "routes[0].listen: missing"}
	}}
	set, err := l.Decode(strings.NewReader(doc), "p.yaml")
	want := []string{
		"p.yaml:6: routes[0].backends[0].weight: too light",
		"p.yaml:1: (document): whole",
		"p.yaml:1: not YAML or JSON: odd",
		"p.yaml:3: routes[0].listen: missing", // the closest field written
	}
	if ps := problemStrings(t, err); !slices.Equal(ps, want) {
		t.Errorf("problems %q, want %q", ps, want)
	}
	if string(got) != `{"admin":"127.0.0.1:9990","routes":[{"backends":[{"name":"b","weight":1}],"name":"a"}]}` {
		t.Errorf("the hook got %s", got)
	}
	if len(set.Objects) != 0 || len(set.ProxyConfigs) != 1 || set.ProxyConfigs[0].Line != 1 {
		t.Errorf("set: %+v", set)
	}

	_, err = Loader{}.Decode(strings.NewReader(doc), "p.yaml")
	if ps := problemStrings(t, err); len(ps) != 1 || !strings.HasPrefix(ps[0], "p.yaml:1: a configuration of serin proxy") {
		t.Errorf("without the hook: %q", ps)
	}
}
