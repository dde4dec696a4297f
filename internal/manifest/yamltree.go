package manifest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// lineMap maps field paths to the line they were written on. Paths use
// dots for keys and brackets for sequence indices
// ("spec.analysis.metrics[0].name"); lookup also accepts brackets for map
// keys ("metadata.labels[app]"), as field.Path writes them.
type lineMap map[string]int

// lookup returns the line of path or of its closest recorded parent.
func (m lineMap) lookup(path string) (int, bool) {
	p := normalizePath(path)
	for {
		if l, ok := m[p]; ok {
			return l, true
		}
		if p == "" {
			return 0, false
		}
		p = parentPath(p)
	}
}

// normalizePath turns bracketed map keys into dotted ones: "a[b].c" becomes
// "a.b.c"; sequence indices ("a[0]") stay.
func normalizePath(p string) string {
	if !strings.Contains(p, "[") {
		return p
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '[')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], ']')
		if j < 0 {
			b.WriteString(p)
			return b.String()
		}
		j += i
		b.WriteString(p[:i])
		if key := p[i+1 : j]; isIndex(key) {
			b.WriteString(p[i : j+1])
		} else {
			b.WriteByte('.')
			b.WriteString(key)
		}
		p = p[j+1:]
	}
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// parentPath strips the last segment of a normalized path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// maxDepth bounds the nesting of a document, aliases included.
const maxDepth = 256

// converter turns a YAML node tree into the values encoding/json produces
// (map[string]any, []any, string, json.Number, bool, nil) and records the
// line of every field.
type converter struct {
	lines lineMap
	// budget bounds the work and memory spent on a document, so that
	// aliases cannot expand a small document into a huge one.
	budget int
}

// convertError is a problem at a line of the document.
type convertError struct {
	line int
	path string
	msg  string
}

func (e *convertError) Error() string { return e.msg }

func (c *converter) fail(n *yaml.Node, path, format string, args ...any) error {
	return &convertError{line: n.Line, path: path, msg: fmt.Sprintf(format, args...)}
}

func (c *converter) value(n *yaml.Node, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, c.fail(n, path, "document nested too deeply")
	}
	// Every node costs its value and its path, which bounds both the
	// values and the line map built from a document.
	c.budget -= 1 + len(n.Value) + len(path)
	if c.budget < 0 {
		return nil, c.fail(n, path, "document too large once its aliases are expanded")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], path, depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, c.fail(n, path, "unknown alias")
		}
		return c.value(n.Alias, path, depth+1)
	case yaml.MappingNode:
		return c.mapping(n, path, depth)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = e.Line
			v, err := c.value(e, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return c.scalar(n, path)
	default:
		return nil, c.fail(n, path, "unexpected YAML node")
	}
}

func (c *converter) mapping(n *yaml.Node, path string, depth int) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, c.fail(k, path, "mapping keys must be strings")
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		p := joinKey(path, k.Value)
		if _, dup := out[k.Value]; dup {
			return nil, c.fail(k, p, "duplicate key %q", k.Value)
		}
		c.lines[p] = k.Line
		val, err := c.value(v, p, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	// Merge keys ("<<: *base") fill in the keys the mapping does not set.
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			v, err := c.value(src, path, depth+1)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, c.fail(src, path, "merge key value must be a mapping")
			}
			for k, val := range mm {
				if _, set := out[k]; !set {
					out[k] = val
				}
			}
		}
	}
	return out, nil
}

func (c *converter) scalar(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, c.fail(n, path, "invalid boolean %q", n.Value)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		return nil, c.fail(n, path, "integer %s out of range", n.Value)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, c.fail(n, path, "invalid number %q", n.Value)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, c.fail(n, path, "number %s is not finite", n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	default:
		// Strings, timestamps and binary stay as written, as Kubernetes
		// reads them.
		return n.Value, nil
	}
}
