package manifest

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// fieldProblem is an unknown field or a value of the wrong type.
type fieldProblem struct {
	path string
	msg  string
}

// checker compares a decoded document with the Go type it is decoded into,
// the way a strict decoder would, but reports every problem with its full
// path instead of stopping at the first. encoding/json matches keys without
// regard to case; checker does not, so "stepweight" is reported rather than
// silently read as "stepWeight".
type checker struct {
	fields   map[reflect.Type]map[string]reflect.Type
	problems []fieldProblem
	// meant are the fields an unknown field was suggested for ("did you
	// mean"): left unset by the typo, they are not reported again.
	meant []string
}

func newChecker() *checker {
	return &checker{fields: map[reflect.Type]map[string]reflect.Type{}}
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, fieldProblem{path: path, msg: fmt.Sprintf(format, args...)})
}

// check reports the problems of v, decoded from JSON, against type t, and
// prunes them: an unknown field, or a value of the wrong type, is removed
// from the object or map that holds it (a list element is set to null), so
// that what is left decodes and can be validated in the same pass. It
// returns false when v itself is wrong and its holder must drop it.
func (c *checker) check(v any, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return true
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		// IntOrString, Quantity, Time and the like check themselves.
		return true
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		if _, ok := v.(string); !ok {
			c.add(path, "must be a string, got %s", describe(v))
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, got %s", describe(v))
			return false
		}
		known := c.structFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := known[k]
			if !ok {
				c.add(joinKey(path, k), "%s", unknownField(k, known))
				if near := meantField(k, known); near != "" {
					if _, set := m[near]; !set {
						c.meant = append(c.meant, joinKey(path, near))
					}
				}
				delete(m, k)
				continue
			}
			if !c.check(m[k], ft, joinKey(path, k)) {
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, got %s", describe(v))
			return false
		}
		for _, k := range sortedKeys(m) {
			if !c.check(m[k], t.Elem(), path+"["+k+"]") {
				delete(m, k)
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.(string); !ok {
				c.add(path, "must be a base64 string, got %s", describe(v))
				return false
			}
			return true
		}
		s, ok := v.([]any)
		if !ok {
			c.add(path, "must be a list, got %s", describe(v))
			return false
		}
		for i, e := range s {
			if !c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) {
				s[i] = nil
			}
		}
	case reflect.String:
		switch v.(type) {
		case string:
		case json.Number, bool:
			c.add(path, "must be a string, got %s (quote it)", describe(v))
			return false
		default:
			c.add(path, "must be a string, got %s", describe(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.add(path, "must be true or false, got %s", describe(v))
			return false
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			c.add(path, "must be an integer, got %s", describe(v))
			return false
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			c.add(path, "must be an integer of %d bits, got %s", t.Bits(), n)
			return false
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			c.add(path, "must be an integer, got %s", describe(v))
			return false
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			c.add(path, "must be a non-negative integer of %d bits, got %s", t.Bits(), n)
			return false
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			c.add(path, "must be a number, got %s", describe(v))
			return false
		}
	case reflect.Interface:
		// Anything goes.
	default:
		c.add(path, "cannot be decoded into %s", t)
		return false
	}
	return true
}

// structFields maps the JSON names of t's fields, those of inlined
// (embedded) structs included, to their types.
func (c *checker) structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := c.fields[t]; ok {
		return f
	}
	out := map[string]reflect.Type{}
	c.fields[t] = out
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct || strings.Contains(opts, "inline") {
			for k, v := range c.structFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// renamed are fields of Flagger's v1alpha3 Canary that v1beta1 renamed:
// the old name, a field of the same object that tells where it stood, and
// what to write instead.
var renamed = []struct{ old, sibling, hint string }{
	{"canaryAnalysis", "analysis", "Flagger's v1alpha3 name: v1beta1 calls it analysis"},
}

// unknownField says that key is unknown and suggests the closest known
// field, if one is close, or the new name of a renamed one.
func unknownField(key string, known map[string]reflect.Type) string {
	for _, r := range renamed {
		if _, ok := known[r.sibling]; ok && key == r.old {
			return "unknown field: " + r.hint
		}
	}
	best := nearest(key, known)
	if best == "" {
		return "unknown field"
	}
	return fmt.Sprintf("unknown field, did you mean %q?", best)
}

// meantField returns the field an unknown key stands for: the new name of
// a renamed field, or the known field it is a near miss of; "" if none.
func meantField(key string, known map[string]reflect.Type) string {
	for _, r := range renamed {
		if _, ok := known[r.sibling]; ok && key == r.old {
			return r.sibling
		}
	}
	return nearest(key, known)
}

// nearest returns the known field key is a near miss of, or "".
func nearest(key string, known map[string]reflect.Type) string {
	best, bestDist := "", len(key)/3+1
	for _, k := range sortedKeys(known) {
		d := distance(strings.ToLower(key), strings.ToLower(k))
		if strings.EqualFold(key, k) {
			d = 0
		}
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist > 2 {
		return ""
	}
	return best
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// describe names the JSON type of v, with the value for scalars.
func describe(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	default:
		return fmt.Sprintf("%v", v)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
