package proxy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/serinhq/serin/internal/telemetry"
)

// compileOnly returns a Proxy good for compiling routes, with no goroutines.
func compileOnly() *Proxy {
	return &Proxy{store: telemetry.NewStore(), endpoints: map[string]*endpoint{}}
}

// fakeRequest is a request for the pure choice tests.
type fakeRequest struct {
	headers map[string]string
	cookies map[string]string
}

func (r fakeRequest) HeaderValue(name []byte) ([]byte, bool) {
	v, ok := r.headers[string(name)]
	return []byte(v), ok
}

func (r fakeRequest) CookieValue(name []byte) ([]byte, bool) {
	v, ok := r.cookies[string(name)]
	return []byte(v), ok
}

func testRoute(t testing.TB, r Route) *route {
	t.Helper()
	cfg := Config{Routes: []Route{r}}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return compileOnly().compile(cfg.Routes[0], map[string]*endpoint{})
}

func backends(weights ...int) []Backend {
	out := make([]Backend, len(weights))
	for i, w := range weights {
		out[i] = Backend{Name: string(rune('a' + i)), Weight: w, Endpoints: []string{"127.0.0.1:1"}}
	}
	return out
}

func TestSplitWithinOnePercentOfWeights(t *testing.T) {
	for _, weights := range [][]int{{90, 10}, {50, 50}, {1, 99}, {70, 20, 10}, {0, 100}, {3, 0, 1, 6, 0}} {
		r := testRoute(t, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(weights...)})
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 100_000
		counts := map[string]int{}
		for range n {
			counts[r.choose(fakeRequest{}, rng.Uint64).backend.name]++
		}
		total := 0
		for _, w := range weights {
			total += w
		}
		for i, w := range weights {
			name := string(rune('a' + i))
			got := float64(counts[name]) / n
			want := float64(w) / float64(total)
			if math.Abs(got-want) > 0.01 {
				t.Errorf("weights %v: backend %s got %.4f of the requests, want %.4f +- 0.01", weights, name, got, want)
			}
			if w == 0 && counts[name] != 0 {
				t.Errorf("weights %v: backend %s with weight 0 got %d requests", weights, name, counts[name])
			}
		}
	}
}

// TestPickWeightedMatchesReference checks the choice against a naive walk
// over the weights for every draw.
func TestPickWeightedMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		n := 1 + rng.IntN(9)
		weights := make([]uint64, n)
		var cum []uint64
		var total uint64
		for i := range weights {
			weights[i] = uint64(rng.IntN(5))
			total += weights[i]
			cum = append(cum, total)
		}
		if total == 0 {
			continue
		}
		for x := range total {
			want, acc := -1, uint64(0)
			for i, w := range weights {
				acc += w
				if x < acc {
					want = i
					break
				}
			}
			if got := pickWeighted(cum, x); got != want {
				t.Fatalf("weights %v, x %d: got %d, want %d", weights, x, got, want)
			}
		}
	}
}

func TestMatchRules(t *testing.T) {
	r := testRoute(t, Route{
		Name: "r", Listen: "127.0.0.1:0", Backends: backends(100, 0),
		Match: []MatchRule{
			{Headers: map[string]StringMatch{"X-Canary": {Exact: "insider"}}, Backend: "b"},
			{Headers: map[string]StringMatch{"User-Agent": {Regex: "(?i).*firefox.*"}}, Backend: "b"},
			{Headers: map[string]StringMatch{"X-Tenant": {Prefix: "beta-"}, "X-Region": {Exact: "eu"}}, Backend: "b"},
			{Cookies: map[string]StringMatch{"canary": {Exact: "always"}}, Backend: "b"},
		},
	})
	cases := []struct {
		name string
		req  fakeRequest
		want string
	}{
		{"no match", fakeRequest{}, "a"},
		{"header exact", fakeRequest{headers: map[string]string{"X-Canary": "insider"}}, "b"},
		{"header exact mismatch", fakeRequest{headers: map[string]string{"X-Canary": "insider2"}}, "a"},
		{"header regex", fakeRequest{headers: map[string]string{"User-Agent": "Mozilla/5.0 Firefox/120"}}, "b"},
		{"all conditions of a rule", fakeRequest{headers: map[string]string{"X-Tenant": "beta-7", "X-Region": "eu"}}, "b"},
		{"one condition of two", fakeRequest{headers: map[string]string{"X-Tenant": "beta-7"}}, "a"},
		{"cookie", fakeRequest{cookies: map[string]string{"canary": "always"}}, "b"},
		{"cookie mismatch", fakeRequest{cookies: map[string]string{"canary": "never"}}, "a"},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A rule overrides the weights: "b" has weight 0.
			if got := r.choose(c.req, rng.Uint64).backend.name; got != c.want {
				t.Errorf("got backend %q, want %q", got, c.want)
			}
		})
	}
}

func TestSticky(t *testing.T) {
	r := testRoute(t, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(50, 50, 0), Sticky: &Sticky{Cookie: "serin", MaxAge: 60}})
	rng := rand.New(rand.NewPCG(7, 8))
	// Without a cookie: a weighted choice that asks for the cookie.
	c := r.choose(fakeRequest{}, rng.Uint64)
	if !c.setSticky {
		t.Fatal("first request does not get a sticky cookie")
	}
	if got := string(r.stickyCookie(nil, c.backend)); got != "serin="+c.backend.name+"; Path=/; HttpOnly; Max-Age=60" {
		t.Errorf("cookie = %q", got)
	}
	// With it: always the same backend, and no new cookie.
	for _, name := range []string{"a", "b"} {
		for range 1000 {
			c := r.choose(fakeRequest{cookies: map[string]string{"serin": name}}, rng.Uint64)
			if c.backend.name != name || c.setSticky {
				t.Fatalf("cookie %q: got backend %q, setSticky %v", name, c.backend.name, c.setSticky)
			}
		}
	}
	// A cookie naming a backend out of the split (weight 0) or unknown is
	// replaced.
	for _, stale := range []string{"c", "gone"} {
		c := r.choose(fakeRequest{cookies: map[string]string{"serin": stale}}, rng.Uint64)
		if c.backend.name == "c" || !c.setSticky {
			t.Errorf("stale cookie %q: got backend %q, setSticky %v", stale, c.backend.name, c.setSticky)
		}
	}
}

func TestMirrorShare(t *testing.T) {
	r := testRoute(t, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(100, 0), Mirror: &Mirror{Backend: "b", Percent: 30}})
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 100_000
	mirrored := 0
	for range n {
		if r.choose(fakeRequest{}, rng.Uint64).mirror {
			mirrored++
		}
	}
	if got := float64(mirrored) / n; math.Abs(got-0.30) > 0.01 {
		t.Errorf("mirrored %.4f of the requests, want 0.30 +- 0.01", got)
	}
	// Requests to the mirror backend itself are not mirrored.
	r = testRoute(t, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(0, 100), Mirror: &Mirror{Backend: "b", Percent: 100}})
	if r.choose(fakeRequest{}, rng.Uint64).mirror {
		t.Error("a request to the mirror backend is mirrored")
	}
}

func TestPickEndpointSkipsDownAndPrefersIdle(t *testing.T) {
	eps := []*endpoint{{addr: "a"}, {addr: "b"}, {addr: "c"}}
	b := &backend{endpoints: eps}
	rng := rand.New(rand.NewPCG(11, 12))
	now := func() int64 { return 1000 }
	eps[0].downUntil.Store(2000)
	eps[1].inflight.Store(5)
	counts := map[string]int{}
	for range 3000 {
		counts[b.pickEndpoint(false, rng.Uint64, now, nil).addr]++
	}
	if counts["a"] != 0 {
		t.Errorf("down endpoint picked %d times", counts["a"])
	}
	if counts["c"] <= counts["b"] {
		t.Errorf("least-request: idle endpoint c got %d, busy b got %d", counts["c"], counts["b"])
	}
	// Round robin visits the healthy endpoints in turn.
	seen := map[string]int{}
	for range 100 {
		seen[b.pickEndpoint(true, rng.Uint64, now, nil).addr]++
	}
	if seen["a"] != 0 || seen["b"] == 0 || seen["c"] == 0 {
		t.Errorf("round robin: %v", seen)
	}
	// Once the ejection is over the endpoint is back.
	later := func() int64 { return 3000 }
	got := map[string]bool{}
	for range 100 {
		got[b.pickEndpoint(true, rng.Uint64, later, nil).addr] = true
	}
	if !got["a"] {
		t.Error("endpoint not back after its ejection")
	}
	// With every endpoint but skip down, one is still returned.
	eps[2].downUntil.Store(2000)
	if e := b.pickEndpoint(false, rng.Uint64, now, eps[1]); e == nil || e == eps[1] {
		t.Errorf("all down: got %v", e)
	}
}

func BenchmarkChoose(b *testing.B) {
	r := testRoute(b, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(90, 10)})
	rng := rand.New(rand.NewPCG(1, 2))
	req := &fakeRequest{}
	b.ReportAllocs()
	for b.Loop() {
		r.choose(req, rng.Uint64)
	}
}

func BenchmarkChooseWithMatchAndSticky(b *testing.B) {
	r := testRoute(b, Route{
		Name: "r", Listen: "127.0.0.1:0", Backends: backends(90, 10),
		Match:  []MatchRule{{Headers: map[string]StringMatch{"X-Canary": {Exact: "insider"}}, Backend: "b"}},
		Sticky: &Sticky{Cookie: "serin"},
	})
	rng := rand.New(rand.NewPCG(1, 2))
	req := &fakeRequest{cookies: map[string]string{"serin": "a"}}
	b.ReportAllocs()
	for b.Loop() {
		r.choose(req, rng.Uint64)
	}
}

// A Sticky with attributes writes them instead of the defaults.
func TestStickyAttributes(t *testing.T) {
	attrs := "; Max-Age=60; Path=/app; Secure; SameSite=Lax"
	r := testRoute(t, Route{Name: "r", Listen: "127.0.0.1:0", Backends: backends(50, 50, 0), Sticky: &Sticky{Cookie: "serin", MaxAge: 60, Attributes: attrs}})
	c := r.choose(fakeRequest{}, rand.New(rand.NewPCG(1, 2)).Uint64)
	if got := string(r.stickyCookie(nil, c.backend)); got != "serin="+c.backend.name+attrs {
		t.Errorf("cookie = %q", got)
	}
	bad := Config{Routes: []Route{{Name: "r", Listen: "127.0.0.1:0", Backends: backends(50, 50, 0), Sticky: &Sticky{Cookie: "serin", Attributes: "; Path=/\r\nX-Evil: 1"}}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "sticky.attributes") {
		t.Errorf("attributes with a line break: err = %v", err)
	}
}
