package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the proxy's whole configuration: the routes it serves.
type Config struct {
	Routes []Route `json:"routes"`
}

// Route is one listener and the backends its requests are split between.
type Route struct {
	// Name identifies the route in logs.
	Name string `json:"name"`
	// Listen is the address to accept connections on ("127.0.0.1:9898").
	Listen string `json:"listen"`
	// Backends receive the requests, each with a probability proportional
	// to its weight.
	Backends []Backend `json:"backends"`
	// Match sends requests matching any rule to that rule's backend,
	// whatever the weights (A/B testing).
	Match []MatchRule `json:"match,omitempty"`
	// Mirror copies a share of the requests to a backend and discards its
	// responses.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Sticky keeps a client on the backend it got, with a cookie.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Timeout bounds a request from its forwarding to the end of its
	// response (30s when zero).
	Timeout Duration `json:"timeout,omitempty"`
	// IdleTimeout closes client connections idle for that long (90s when
	// zero). It is read when the route's listener starts: changing it on a
	// route that keeps its address takes effect on the next restart.
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// HeaderTimeout bounds how long a client may take to send a request
	// head, from its first byte to its blank line (Options.HeaderTimeout,
	// 10s by default, when zero); a connection that has not sent a whole
	// head by then is closed. Read when the listener starts, as
	// IdleTimeout.
	HeaderTimeout Duration `json:"headerTimeout,omitempty"`
	// TunnelIdleTimeout closes an upgraded connection (WebSocket and the
	// like) on which no byte has gone either way for that long (1h when
	// zero).
	TunnelIdleTimeout Duration `json:"tunnelIdleTimeout,omitempty"`
	// LoadBalancer spreads a backend's requests over its endpoints:
	// "least-request" (the less busy of two random endpoints, the default)
	// or "round-robin".
	LoadBalancer string `json:"loadBalancer,omitempty"`
	// UpstreamProtocol is the protocol spoken to endpoints for requests
	// that arrived over HTTP/2 cleartext: "http1" (the default) or "h2c".
	UpstreamProtocol string `json:"upstreamProtocol,omitempty"`
}

// Backend is one version of the service: a set of endpoints and a weight.
type Backend struct {
	// Name is unique within the route; matches, mirrors and sticky cookies
	// refer to it.
	Name string `json:"name"`
	// Namespace and Deployment label the backend's metrics ("default" and
	// Name when empty).
	Namespace  string `json:"namespace,omitempty"`
	Deployment string `json:"deployment,omitempty"`
	// Weight is the backend's share of the requests relative to the sum of
	// the weights of the route's backends; 0 takes it out of the split.
	Weight int `json:"weight"`
	// Endpoints are host:port addresses ("127.0.0.1:34567").
	Endpoints []string `json:"endpoints"`
}

// MatchRule sends the requests that meet all its conditions to Backend.
type MatchRule struct {
	// Headers maps a header name to the condition its value must meet.
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// Cookies maps a cookie name to the condition its value must meet.
	Cookies map[string]StringMatch `json:"cookies,omitempty"`
	Backend string                 `json:"backend"`
}

// StringMatch is a condition on a string: exactly one of Exact, Prefix and
// Regex (Go syntax, unanchored unless written with ^ and $).
type StringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// Mirror copies Percent percent of the requests to Backend.
type Mirror struct {
	Backend string `json:"backend"`
	Percent int    `json:"percent"`
}

// Sticky names the cookie that pins a client to a backend, kept MaxAge
// seconds (a session cookie when 0).
type Sticky struct {
	Cookie string `json:"cookie"`
	MaxAge int    `json:"maxAge,omitempty"`
	// Attributes replace the cookie's default attributes ("; Path=/;
	// HttpOnly" and Max-Age) when set: everything after name=value, such as
	// "; Max-Age=60; Path=/app; Secure; SameSite=Lax".
	Attributes string `json:"attributes,omitempty"`
}

// Duration is a time.Duration written as a string ("5s", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string, or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		var sec float64
		if err := json.Unmarshal(b, &sec); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(sec * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// The load balancers and upstream protocols.
const (
	LeastRequest = "least-request"
	RoundRobin   = "round-robin"
	HTTP1        = "http1"
	H2C          = "h2c"
)

const (
	defaultTimeout     = 30 * time.Second
	defaultIdleTimeout = 90 * time.Second
	// DefaultHeaderTimeout is the request-head deadline of routes and
	// Options that set none.
	DefaultHeaderTimeout     = 10 * time.Second
	defaultTunnelIdleTimeout = time.Hour
	defaultNamespace         = "default"
)

// ParseConfig reads a Config from YAML or JSON, then defaults and
// validates it; as ParseFile, it reports unknown fields and values of the
// wrong type with their field paths.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := parseInto(data, &c, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// UnmarshalStrict decodes YAML or JSON into v, rejecting unknown fields and
// trailing data.
func UnmarshalStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the document")
	}
	return nil
}

// Default fills in the defaults of unset fields.
func (c *Config) Default() {
	for i := range c.Routes {
		r := &c.Routes[i]
		for j := range r.Backends {
			b := &r.Backends[j]
			if b.Namespace == "" {
				b.Namespace = defaultNamespace
			}
			if b.Deployment == "" {
				b.Deployment = b.Name
			}
		}
		if r.LoadBalancer == "" {
			r.LoadBalancer = LeastRequest
		}
		if r.UpstreamProtocol == "" {
			r.UpstreamProtocol = HTTP1
		}
	}
}

// ConfigError lists every problem of a Config, each with its field path.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid proxy config: " + strings.Join(e.Problems, "; ")
}

// Validate returns a *ConfigError listing every problem, or nil. It
// expects a defaulted Config.
func (c *Config) Validate() error {
	var p []string
	add := func(path, format string, args ...any) {
		p = append(p, path+": "+fmt.Sprintf(format, args...))
	}
	names := map[string]int{}
	listens := map[string]int{}
	for i, r := range c.Routes {
		rp := fmt.Sprintf("routes[%d]", i)
		if r.Name == "" {
			add(rp+".name", "must not be empty")
		} else if j, dup := names[r.Name]; dup {
			add(rp+".name", "duplicates routes[%d].name %q", j, r.Name)
		} else {
			names[r.Name] = i
		}
		if err := checkHostPort(r.Listen); err != nil {
			add(rp+".listen", "%v", err)
		} else if j, dup := listens[r.Listen]; dup {
			add(rp+".listen", "duplicates routes[%d].listen %q", j, r.Listen)
		} else {
			listens[r.Listen] = i
		}
		if len(r.Backends) == 0 {
			add(rp+".backends", "must have at least one backend")
		}
		backends := map[string]int{}
		total := 0
		for j, b := range r.Backends {
			bp := fmt.Sprintf("%s.backends[%d]", rp, j)
			if b.Name == "" {
				add(bp+".name", "must not be empty")
			} else if k, dup := backends[b.Name]; dup {
				add(bp+".name", "duplicates backends[%d].name %q", k, b.Name)
			} else {
				backends[b.Name] = j
			}
			if b.Weight < 0 || b.Weight > 1_000_000 {
				add(bp+".weight", "must be between 0 and 1000000, got %d", b.Weight)
			} else {
				total += b.Weight
			}
			if len(b.Endpoints) == 0 {
				add(bp+".endpoints", "must have at least one endpoint")
			}
			for k, e := range b.Endpoints {
				if err := checkHostPort(e); err != nil {
					add(fmt.Sprintf("%s.endpoints[%d]", bp, k), "%v", err)
				}
			}
		}
		if len(r.Backends) > 0 && total == 0 {
			add(rp+".backends", "the weights must not all be 0")
		}
		known := func(path, name string) {
			if _, ok := backends[name]; !ok {
				add(path, "unknown backend %q", name)
			}
		}
		for j, m := range r.Match {
			mp := fmt.Sprintf("%s.match[%d]", rp, j)
			known(mp+".backend", m.Backend)
			if len(m.Headers)+len(m.Cookies) == 0 {
				add(mp, "must have at least one header or cookie condition")
			}
			for _, h := range sortedKeys(m.Headers) {
				checkStringMatch(add, fmt.Sprintf("%s.headers[%s]", mp, h), m.Headers[h])
			}
			for _, ck := range sortedKeys(m.Cookies) {
				checkStringMatch(add, fmt.Sprintf("%s.cookies[%s]", mp, ck), m.Cookies[ck])
			}
		}
		if m := r.Mirror; m != nil {
			known(rp+".mirror.backend", m.Backend)
			if m.Percent < 0 || m.Percent > 100 {
				add(rp+".mirror.percent", "must be between 0 and 100, got %d", m.Percent)
			}
		}
		if s := r.Sticky; s != nil {
			if !isToken(s.Cookie) {
				add(rp+".sticky.cookie", "must be a cookie name, got %q", s.Cookie)
			}
			if s.MaxAge < 0 {
				add(rp+".sticky.maxAge", "must not be negative, got %d", s.MaxAge)
			}
			if strings.ContainsAny(s.Attributes, "\r\n\x00") || (s.Attributes != "" && !strings.HasPrefix(s.Attributes, ";")) {
				add(rp+".sticky.attributes", "must start with ';' and hold no line breaks, got %q", s.Attributes)
			}
			for j, b := range r.Backends {
				if b.Name != "" && !isToken(b.Name) {
					add(fmt.Sprintf("%s.backends[%d].name", rp, j), "must be a token to be a sticky cookie's value, got %q", b.Name)
				}
			}
		}
		if r.Timeout < 0 {
			add(rp+".timeout", "must not be negative, got %s", time.Duration(r.Timeout))
		}
		if r.IdleTimeout < 0 {
			add(rp+".idleTimeout", "must not be negative, got %s", time.Duration(r.IdleTimeout))
		}
		if r.HeaderTimeout < 0 {
			add(rp+".headerTimeout", "must not be negative, got %s", time.Duration(r.HeaderTimeout))
		}
		if r.TunnelIdleTimeout < 0 {
			add(rp+".tunnelIdleTimeout", "must not be negative, got %s", time.Duration(r.TunnelIdleTimeout))
		}
		if r.LoadBalancer != LeastRequest && r.LoadBalancer != RoundRobin {
			add(rp+".loadBalancer", "must be %q or %q, got %q", LeastRequest, RoundRobin, r.LoadBalancer)
		}
		if r.UpstreamProtocol != HTTP1 && r.UpstreamProtocol != H2C {
			add(rp+".upstreamProtocol", "must be %q or %q, got %q", HTTP1, H2C, r.UpstreamProtocol)
		}
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func checkStringMatch(add func(string, string, ...any), path string, m StringMatch) {
	n := 0
	for _, s := range []string{m.Exact, m.Prefix, m.Regex} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		add(path, "must set exactly one of exact, prefix and regex")
	}
	if m.Regex != "" {
		if _, err := regexp.Compile(m.Regex); err != nil {
			add(path+".regex", "%v", err)
		}
	}
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 7230 token, as cookie names
// must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]StringMatch) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
