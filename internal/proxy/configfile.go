package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// File is what `serin proxy --config` reads and what PUT /routes of the
// admin API takes: the routes and, for the standalone proxy, the admin
// API's address.
type File struct {
	// Admin is the admin API's address: host:port, or unix:PATH for a
	// unix socket. It is read when the proxy starts; PUT /routes accepts
	// and ignores it.
	Admin string `json:"admin,omitempty"`
	Config
}

// ParseFile reads a File from YAML or JSON, then defaults and validates
// its Config. Every problem comes in a *ConfigError with its field path:
// unknown fields, values of the wrong type
// (`routes[0].backends[1].weight: must be an integer, got the string "ten"`)
// and what Validate finds.
func ParseFile(data []byte) (File, error) {
	var f File
	if err := parseInto(data, &f, &f.Config); err != nil {
		return File{}, err
	}
	return f, nil
}

// parseInto decodes data into v, then defaults and validates c, the
// Config in v.
func parseInto(data []byte, v any, c *Config) error {
	if err := decodeStrict(data, v); err != nil {
		return err
	}
	c.Default()
	return c.Validate()
}

// decodeStrict decodes YAML or JSON into v, a pointer to a struct, and
// reports unknown fields and values of the wrong type with their field
// paths in a *ConfigError.
func decodeStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return &ConfigError{Problems: []string{"not YAML or JSON: " + err.Error()}}
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return &ConfigError{Problems: []string{"not YAML or JSON: " + err.Error()}}
	}
	if dec.More() {
		return &ConfigError{Problems: []string{"unexpected data after the document"}}
	}
	var problems []string
	checkShape(doc, reflect.TypeOf(v).Elem(), "", func(path, format string, args ...any) {
		if path == "" {
			path = "(document)"
		}
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	})
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	if err := UnmarshalStrict(j, v); err != nil {
		return &ConfigError{Problems: []string{err.Error()}}
	}
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// checkShape reports, through add, where the decoded JSON value v does not
// fit the Go type t, as encoding/json would refuse it.
func checkShape(v any, t reflect.Type, path string, add func(path, format string, args ...any)) {
	if v == nil {
		return // null leaves the zero value
	}
	if t == durationType {
		switch d := v.(type) {
		case json.Number:
		case string:
			if _, err := time.ParseDuration(d); err != nil {
				add(path, "must be a duration such as \"30s\", got %q", d)
			}
		default:
			add(path, "must be a duration such as \"30s\", got %s", describe(v))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkShape(v, t.Elem(), path, add)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			add(path, "must be an object, got %s", describe(v))
			return
		}
		fields := jsonFields(t, map[string]reflect.Type{})
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				for name, f := range fields {
					if strings.EqualFold(name, k) { // as encoding/json matches
						ft, ok = f, true
					}
				}
			}
			if !ok {
				add(joinPath(path, k), "unknown field")
				continue
			}
			checkShape(m[k], ft, joinPath(path, k), add)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			add(path, "must be an object, got %s", describe(v))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			checkShape(m[k], t.Elem(), fmt.Sprintf("%s[%s]", path, k), add)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			add(path, "must be a list, got %s", describe(v))
			return
		}
		for i, e := range a {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), add)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			add(path, "must be a string, got %s", describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add(path, "must be true or false, got %s", describe(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); !ok || err != nil {
			add(path, "must be an integer, got %s", describe(v))
		}
	}
}

// jsonFields maps the JSON names of t's fields to their types, with the
// fields of embedded structs inlined, as encoding/json does.
func jsonFields(t reflect.Type, into map[string]reflect.Type) map[string]reflect.Type {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			jsonFields(f.Type, into)
		case name == "":
			into[f.Name] = f.Type
		default:
			into[name] = f.Type
		}
	}
	return into
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// describe names a decoded JSON value for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}
