package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/serinhq/serin/api/v1beta1"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// stdinName is how standard input is named in problems.
const stdinName = "<stdin>"

// Loader reads manifests. The zero Loader is ready to use.
type Loader struct {
	// KeepUnknown keeps objects of kinds the package does not know as
	// *unstructured.Unstructured instead of reporting them.
	KeepUnknown bool
	// Stdin is read for the path "-"; nil means os.Stdin.
	Stdin io.Reader
	// ProxyConfig, when set, checks documents that are configurations of
	// serin proxy (no apiVersion or kind, a routes list) instead of
	// refusing them: it gets the document as JSON and returns its
	// problems, each "field.path: message" as the proxy reports them.
	// Each checked document is listed in Set.ProxyConfigs.
	ProxyConfig func(doc []byte) []string
}

// LoadPaths reads files and directories with the zero Loader.
func LoadPaths(paths ...string) (*Set, error) { return Loader{}.Load(paths...) }

// Decode reads the documents of r, named name in problems, with the zero
// Loader.
func Decode(r io.Reader, name string) (*Set, error) { return Loader{}.Decode(r, name) }

// Load reads each path: a file, a directory (its *.yaml, *.yml and *.json
// files, recursively, in lexical order, skipping hidden directories and
// kustomization.yaml files), or
// "-" for standard input. It returns every object that decoded, and a
// Problems error listing everything that did not.
func (l Loader) Load(paths ...string) (*Set, error) {
	set := &Set{}
	var problems Problems
	for _, p := range paths {
		if p == Stdin {
			in := l.Stdin
			if in == nil {
				in = os.Stdin
			}
			problems = append(problems, l.decodeReader(set, in, stdinName)...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			problems = append(problems, Problem{File: p, Message: err.Error()})
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, Problem{File: f, Message: ioMessage(err)})
				continue
			}
			set.Files = append(set.Files, f)
			problems = append(problems, l.decode(set, data, f)...)
		}
	}
	return set, problems.orNil()
}

// Decode reads the documents of r; name is the file name used in problems.
func (l Loader) Decode(r io.Reader, name string) (*Set, error) {
	set := &Set{}
	problems := l.decodeReader(set, r, name)
	return set, problems.orNil()
}

func (l Loader) decodeReader(set *Set, r io.Reader, name string) Problems {
	data, err := io.ReadAll(r)
	if err != nil {
		return Problems{{File: name, Message: fmt.Sprintf("read: %v", err)}}
	}
	set.Files = append(set.Files, name)
	return l.decode(set, data, name)
}

// expand returns path if it is a file, or the manifests under it if it is
// a directory.
func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, errors.New(ioMessage(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if isKustomization(d.Name()) {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, errors.New(ioMessage(err))
	}
	if len(files) == 0 {
		return nil, errors.New("no manifests (*.yaml, *.yml, *.json) in directory")
	}
	return files, nil
}

// isKustomization reports whether a file is a kustomize build file, which
// describes how to assemble manifests rather than an object; kubectl reads
// it with -k, never with -f.
func isKustomization(name string) bool {
	switch name {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// ioMessage is err without the path, which the problem already names.
func ioMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// decode reads every document of one file into set.
func (l Loader) decode(set *Set, data []byte, file string) Problems {
	var problems Problems
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return problems
		}
		if err != nil {
			// The parser cannot resume after a syntax error.
			return append(problems, syntaxProblem(err, file))
		}
		problems = append(problems, l.decodeDocument(set, &n, file, doc, len(data))...)
	}
}

// syntaxProblem turns a YAML syntax error ("yaml: line 3: ...") into a
// Problem. The scanner's errors carry 1-based lines; the parser's (those
// naming what it "did not find") carry 0-based ones, of the construct it was
// reading or of the problem itself.
func syntaxProblem(err error, file string) Problem {
	p := Problem{File: file, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
	m := regexp.MustCompile(`^yaml: line (\d+): (.*)$`).FindStringSubmatch(err.Error())
	if m == nil {
		return p
	}
	p.Line, _ = strconv.Atoi(m[1])
	p.Message = m[2]
	switch p.Message {
	case "did not find expected key", "did not find expected '-' indicator",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected node content":
		p.Line++
	}
	return p
}

func (l Loader) decodeDocument(set *Set, n *yaml.Node, file string, doc, size int) Problems {
	c := &converter{lines: lineMap{}, budget: 16*size + 1<<16}
	v, err := c.value(n, "", 0)
	if err != nil {
		var ce *convertError
		if errors.As(err, &ce) {
			return Problems{{File: file, Line: ce.line, Field: ce.path, Message: ce.msg}}
		}
		return Problems{{File: file, Line: n.Line, Message: err.Error()}}
	}
	if v == nil {
		return nil // an empty document
	}
	start := n.Line
	if len(n.Content) > 0 {
		start = n.Content[0].Line
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Problems{{File: file, Line: start, Message: "document must be an object, got " + describe(v)}}
	}
	c.lines[""] = start
	return l.decodeObject(set, obj, c.lines, Source{File: file, Document: doc, Line: start})
}

// decodeObject decodes one object (or the items of a List) into set.
func (l Loader) decodeObject(set *Set, obj map[string]any, lines lineMap, src Source) Problems {
	problem := func(field, format string, args ...any) Problems {
		line, _ := lines.lookup(field)
		return Problems{{File: src.File, Line: line, Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	switch {
	case isProxyConfig(obj):
		if l.ProxyConfig == nil {
			return problem("", "a configuration of serin proxy (it has routes and no apiVersion or kind), not a manifest: run it with serin proxy --config, and check it with serin validate without --local")
		}
		return l.decodeProxyConfig(set, obj, lines, src)
	case apiVersion == "":
		return problem("apiVersion", "apiVersion is required (a string)")
	case kind == "":
		return problem("kind", "kind is required (a string)")
	case apiVersion == "v1" && kind == "List":
		return l.decodeList(set, obj, lines, src)
	}
	src.APIVersion = apiVersion

	target, known := newObject(apiVersion, kind)
	if !known {
		if strings.HasPrefix(apiVersion, "flagger.app/v1alpha") {
			return problem("apiVersion", "%s is Flagger's API before v1beta1: set apiVersion to flagger.app/v1beta1 or serin.dev/v1beta1, and rename spec.canaryAnalysis to spec.analysis, as Flagger's upgrade guide says", apiVersion)
		}
		if !l.KeepUnknown {
			return problem("kind", "unsupported kind %q of apiVersion %q (supported: %s)", kind, apiVersion, supportedKinds)
		}
		target = &unstructured.Unstructured{}
	}
	// The checker reports unknown fields and values of the wrong type and
	// prunes them, so that the rest of the object is still decoded and
	// validated: every problem of a file comes in one pass.
	var ps Problems
	var pruned []string
	if known {
		ck := newChecker()
		ck.check(obj, reflect.TypeOf(target), "")
		for _, fp := range ck.problems {
			ps = append(ps, problem(fp.path, "%s", fp.msg)...)
			pruned = append(pruned, fp.path)
		}
		pruned = append(pruned, ck.meant...)
	}
	data, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(data, target)
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return append(ps, problem(te.Field, "must be %s, got %s", te.Type, te.Value)...)
		}
		return append(ps, problem("", "%v", err)...)
	}
	if gv := strings.SplitN(apiVersion, "/", 2); gv[0] == v1beta1.FlaggerGroup {
		target.GetObjectKind().SetGroupVersionKind(v1beta1.GroupVersion.WithKind(kind))
	}
	set.Objects = append(set.Objects, &Object{Source: src, Object: target, lines: lines, pruned: pruned})
	return ps
}

// isProxyConfig tells a configuration of serin proxy, which has routes
// and no apiVersion or kind, from a manifest.
func isProxyConfig(obj map[string]any) bool {
	_, routes := obj["routes"]
	_, apiVersion := obj["apiVersion"]
	_, kind := obj["kind"]
	return routes && !apiVersion && !kind
}

// decodeProxyConfig checks a configuration of serin proxy with
// l.ProxyConfig and places each problem on the line of its field path.
func (l Loader) decodeProxyConfig(set *Set, obj map[string]any, lines lineMap, src Source) Problems {
	data, err := json.Marshal(obj)
	if err != nil {
		return Problems{{File: src.File, Line: src.Line, Message: err.Error()}}
	}
	set.ProxyConfigs = append(set.ProxyConfigs, src)
	var ps Problems
	for _, msg := range l.ProxyConfig(data) {
		p := Problem{File: src.File, Line: src.Line, Message: msg}
		if path, rest, ok := strings.Cut(msg, ": "); ok {
			if line, found := lines.lookup(path); found && path != "(document)" && !strings.Contains(path, " ") {
				p.Line, p.Field, p.Message = line, path, rest
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// decodeList decodes the items of a v1 List, each an object of its own.
func (l Loader) decodeList(set *Set, obj map[string]any, lines lineMap, src Source) Problems {
	items, ok := obj["items"].([]any)
	if !ok {
		line, _ := lines.lookup("items")
		return Problems{{File: src.File, Line: line, Field: "items", Message: "must be a list"}}
	}
	var problems Problems
	for i, it := range items {
		prefix := fmt.Sprintf("items[%d]", i)
		m, ok := it.(map[string]any)
		if !ok {
			line, _ := lines.lookup(prefix)
			problems = append(problems, Problem{File: src.File, Line: line, Field: prefix, Message: "must be an object, got " + describe(it)})
			continue
		}
		sub := lineMap{}
		for p, line := range lines {
			switch {
			case p == prefix:
				sub[""] = line
			case strings.HasPrefix(p, prefix+"."):
				sub[p[len(prefix)+1:]] = line
			}
		}
		isrc := src
		isrc.Line = sub[""]
		problems = append(problems, l.decodeObject(set, m, sub, isrc)...)
	}
	return problems
}

const supportedKinds = "Canary, MetricTemplate and AlertProvider of serin.dev/v1beta1 or flagger.app/v1beta1; " +
	"Deployment of apps/v1; Service, ConfigMap, Secret and Namespace of v1"

// newObject returns an empty object of the kind, or false if the kind is
// not one the package decodes.
func newObject(apiVersion, kind string) (runtime.Object, bool) {
	switch apiVersion {
	case v1beta1.GroupVersion.String(), v1beta1.FlaggerGroup + "/v1beta1":
		switch kind {
		case "Canary":
			return &v1beta1.Canary{}, true
		case "MetricTemplate":
			return &v1beta1.MetricTemplate{}, true
		case "AlertProvider":
			return &v1beta1.AlertProvider{}, true
		}
	case "apps/v1":
		if kind == "Deployment" {
			return &appsv1.Deployment{}, true
		}
	case "v1":
		switch kind {
		case "Service":
			return &corev1.Service{}, true
		case "ConfigMap":
			return &corev1.ConfigMap{}, true
		case "Secret":
			return &corev1.Secret{}, true
		case "Namespace":
			return &corev1.Namespace{}, true
		}
	}
	return nil, false
}
