package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/manifest"
)

// TestDocsProviderTemplates checks that every MetricTemplate of
// docs/metrics.md's provider sections passes serin validate, and that
// their types are the ones the resolver runs.
func TestDocsProviderTemplates(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start, end := strings.Index(text, "### Providers"), strings.Index(text, "### Results")
	if start < 0 || end < start {
		t.Fatal("docs/metrics.md has no Providers section before Results")
	}
	dir := t.TempDir()
	var files []string
	for i, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(text[start:end], -1) {
		f := filepath.Join(dir, "example"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(f, []byte(m[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	set, err := (&manifest.Loader{}).Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(v1beta1.ValidationOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range set.Objects {
		if mt, ok := o.Object.(*v1beta1.MetricTemplate); ok {
			seen[mt.Spec.Provider.Type] = true
		}
	}
	for _, typ := range SupportedTypes() {
		if typ != "prometheus" && !seen[typ] {
			t.Errorf("docs/metrics.md has no MetricTemplate of type %s", typ)
		}
	}
}
