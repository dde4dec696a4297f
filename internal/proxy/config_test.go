package proxy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const splitYAML = `
routes:
- name: podinfo
  listen: 127.0.0.1:18080
  timeout: 5s
  backends:
  - name: podinfo-primary
    namespace: test
    weight: 90
    endpoints: [127.0.0.1:18081]
  - name: podinfo-canary
    namespace: test
    weight: 10
    endpoints: [127.0.0.1:18082]
  match:
  - headers:
      x-canary: {exact: insider}
    backend: podinfo-canary
  sticky: {cookie: serin-backend, maxAge: 3600}
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(splitYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	if r.Timeout != Duration(5*time.Second) || r.LoadBalancer != LeastRequest || r.UpstreamProtocol != HTTP1 {
		t.Errorf("route defaults: %+v", r)
	}
	if b := r.Backends[1]; b.Deployment != "podinfo-canary" || b.Namespace != "test" || b.Weight != 10 {
		t.Errorf("backend: %+v", b)
	}
	if _, err := ParseConfig([]byte("routes:\n- name: x\n  listne: 1\n")); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Errorf("unknown field: err = %v", err)
	}
}

func TestValidateListsEveryProblemWithItsPath(t *testing.T) {
	c := Config{Routes: []Route{
		{
			Name: "a", Listen: "nope",
			Backends: []Backend{
				{Name: "x", Weight: 0, Endpoints: []string{"127.0.0.1:99999"}},
				{Name: "x", Weight: -1},
			},
			Match:        []MatchRule{{Backend: "y"}, {Headers: map[string]StringMatch{"h": {Regex: "("}}, Backend: "x"}},
			Mirror:       &Mirror{Backend: "z", Percent: 101},
			Sticky:       &Sticky{Cookie: "bad cookie", MaxAge: -1},
			Timeout:      Duration(-time.Second),
			LoadBalancer: "random",
		},
		{Name: "a", Listen: "127.0.0.1:1", Backends: backends(1)},
		{Name: "b", Listen: "127.0.0.1:1"},
	}}
	c.Default()
	err := c.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	want := []string{
		`routes[0].listen: must be host:port, got "nope"`,
		`routes[0].backends[0].endpoints[0]: port must be a number from 0 to 65535, got "99999"`,
		`routes[0].backends[1].name: duplicates backends[0].name "x"`,
		`routes[0].backends[1].weight: must be between 0 and 1000000, got -1`,
		`routes[0].backends[1].endpoints: must have at least one endpoint`,
		`routes[0].backends: the weights must not all be 0`,
		`routes[0].match[0].backend: unknown backend "y"`,
		`routes[0].match[0]: must have at least one header or cookie condition`,
		"routes[0].match[1].headers[h].regex: error parsing regexp: missing closing ): `(`",
		`routes[0].mirror.backend: unknown backend "z"`,
		`routes[0].mirror.percent: must be between 0 and 100, got 101`,
		`routes[0].sticky.cookie: must be a cookie name, got "bad cookie"`,
		`routes[0].sticky.maxAge: must not be negative, got -1`,
		`routes[0].timeout: must not be negative, got -1s`,
		`routes[0].loadBalancer: must be "least-request" or "round-robin", got "random"`,
		`routes[1].name: duplicates routes[0].name "a"`,
		`routes[2].listen: duplicates routes[1].listen "127.0.0.1:1"`,
		`routes[2].backends: must have at least one backend`,
	}
	for _, w := range want {
		if !slices.Contains(ce.Problems, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(ce.Problems), len(want), strings.Join(ce.Problems, "\n"))
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	for in, want := range map[string]time.Duration{`"1m30s"`: 90 * time.Second, `2.5`: 2500 * time.Millisecond} {
		if err := d.UnmarshalJSON([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("%s: got %v, %v", in, time.Duration(d), err)
		}
	}
	if err := d.UnmarshalJSON([]byte(`"soon"`)); err == nil {
		t.Error("bad duration accepted")
	}
	if b, _ := Duration(time.Second).MarshalJSON(); string(b) != `"1s"` {
		t.Errorf("marshal: %s", b)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(splitYAML))
	f.Add([]byte(`{"routes":[{"name":"a","listen":"127.0.0.1:1","backends":[{"name":"b","weight":1,"endpoints":["127.0.0.1:2"]}]}]}`))
	f.Add([]byte("routes: [{name: a, match: [{headers: {x: {regex: '['}}}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// A config that parses is valid and compiles.
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		p := compileOnly()
		for _, r := range c.Routes {
			rt := p.compile(r, map[string]*endpoint{})
			if rt.total == 0 || len(rt.cum) != len(rt.backends) {
				t.Fatalf("compiled route %q: total %d", r.Name, rt.total)
			}
		}
	})
}

// What does not fit the file's shape is reported with its field path,
// every problem at once, as Validate's problems are.
func TestParseFileNamesFieldPaths(t *testing.T) {
	_, err := ParseFile([]byte(`admin: 127.0.0.1:1
routes:
- name: a
  listne: 127.0.0.1:2
  timeout: soon
  backends:
  - {name: b, weight: 1, endpoints: [127.0.0.1:3]}
  - {name: c, weight: "ten", endpoints: 127.0.0.1:4}
  match: [{headers: {x-a: {exact: 1}}, backend: b}]
`))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	want := []string{
		`routes[0].backends[1].endpoints: must be a list, got the string "127.0.0.1:4"`,
		`routes[0].backends[1].weight: must be an integer, got the string "ten"`,
		`routes[0].listne: unknown field`,
		`routes[0].match[0].headers[x-a].exact: must be a string, got the number 1`,
		`routes[0].timeout: must be a duration such as "30s", got "soon"`,
	}
	if !slices.Equal(ce.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}
	f, err := ParseFile([]byte("admin: unix:/run/a.sock\n" + splitYAML))
	if err != nil || f.Admin != "unix:/run/a.sock" || len(f.Routes) != 1 || f.Routes[0].LoadBalancer != LeastRequest {
		t.Errorf("a whole file: %+v, %v", f, err)
	}
}
