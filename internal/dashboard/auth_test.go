package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
)

// fakeAuth knows callers by token; each may view the namespaces in view
// and command the Canaries ("ns/name") in command.
type fakeAuth struct {
	mu      sync.Mutex
	callers map[string]*fakeCaller
}

type fakeCaller struct {
	name    string
	view    map[string]bool
	command map[string]bool
	asked   map[string]int // "verb ns/name" -> times asked
	err     error
	// commandErr fails the questions about commands only.
	commandErr error
}

func (c *fakeCaller) Name() string { return c.name }

func (c *fakeCaller) Can(_ context.Context, verb, ns, name string) (bool, error) {
	c.asked[verb+" "+ns+"/"+name]++
	if c.err != nil {
		return false, c.err
	}
	if verb == VerbView {
		return c.view[ns], nil
	}
	if c.commandErr != nil {
		return false, c.commandErr
	}
	return c.command[ns+"/"+name], nil
}

func (a *fakeAuth) Authenticate(r *http.Request) (Caller, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tok, _ := BearerToken(r)
	if c, ok := a.callers[tok]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{callers: map[string]*fakeCaller{
		"alice": {name: "alice", view: map[string]bool{"test": true}, command: map[string]bool{"test/podinfo": true}, asked: map[string]int{}},
		"bob":   {name: "bob", view: map[string]bool{"test": true}, asked: map[string]int{}},
		"eve":   {name: "eve", view: map[string]bool{"other": true}, asked: map[string]int{}},
		"broke": {name: "broke", err: errors.New("SubjectAccessReview: connection refused"), asked: map[string]int{}},
	}}
}

// twoNamespaces is the fixture with a second Canary, its Deployment and
// an event in namespace other.
func twoNamespaces() *fakeSource {
	src := fixture()
	c := src.snap.Canaries[0].DeepCopy()
	c.Namespace = "other"
	src.snap.Canaries = append(src.snap.Canaries, *c)
	d := deployment("podinfo", "podinfo:2", 1)
	d.Deployment.Namespace = "other"
	src.snap.Deployments = append(src.snap.Deployments, d)
	src.events = append(src.events, local.Event{Seq: 14, Time: t0, Type: "Normal", Reason: "Progressing", Kind: "Canary", Namespace: "other", Name: "podinfo", Message: "elsewhere"})
	return src
}

func do(t *testing.T, h http.Handler, method, target, token string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:9999"+target, strings.NewReader("{}"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, b
}

func TestReadsNeedAuthentication(t *testing.T) {
	h := New(Options{Source: twoNamespaces(), Auth: newFakeAuth()})
	for _, path := range []string{"/api/state", "/api/events", "/api/canaries/test/podinfo/history"} {
		for _, tok := range []string{"", "mallory"} {
			code, body := do(t, h, http.MethodGet, path, tok, nil)
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil || code != http.StatusUnauthorized || !strings.Contains(e.Error, "unauthenticated") {
				t.Errorf("GET %s with token %q: %d %s, want 401 with a JSON error", path, tok, code, body)
			}
		}
	}
	// The page itself carries no data and needs no token.
	if code, _ := do(t, h, http.MethodGet, "/", "", nil); code != http.StatusOK {
		t.Errorf("GET /: %d, want 200", code)
	}
}

func TestReadsFilteredByNamespace(t *testing.T) {
	auth := newFakeAuth()
	h := New(Options{Source: twoNamespaces(), Auth: auth})
	for tok, want := range map[string]string{"alice": "test", "eve": "other"} {
		code, body := do(t, h, http.MethodGet, "/api/state", tok, nil)
		var st State
		if err := json.Unmarshal(body, &st); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %s", tok, code, body)
		}
		if len(st.Canaries) != 1 || st.Canaries[0].Namespace != want {
			t.Errorf("%s sees canaries %+v, want only namespace %s", tok, st.Canaries, want)
		}
		for _, d := range st.Deployments {
			if d.Namespace != want {
				t.Errorf("%s sees deployment %s/%s", tok, d.Namespace, d.Name)
			}
		}
		for _, e := range st.Events {
			if e.Namespace != want {
				t.Errorf("%s sees event %+v", tok, e)
			}
		}
		if len(st.Events) == 0 || st.LastSeq != 14 {
			t.Errorf("%s: events %+v, last %d", tok, st.Events, st.LastSeq)
		}
	}
	// Asked once per namespace per request, not once per object.
	if n := auth.callers["alice"].asked["view test/"]; n != 1 {
		t.Errorf("alice was asked %d times about namespace test in one request, want 1", n)
	}
	do(t, h, http.MethodGet, "/api/state", "alice", nil)
	if n := auth.callers["alice"].asked["view test/"]; n != 2 {
		t.Errorf("after a second request alice was asked %d times, want 2 (nothing cached across requests)", n)
	}
	if code, body := do(t, h, http.MethodGet, "/api/events", "eve", nil); code != http.StatusOK || strings.Contains(string(body), `"test"`) {
		t.Errorf("eve's events: %d %s, want none of namespace test", code, body)
	}
	if code, body := do(t, h, http.MethodGet, "/api/state", "broke", nil); code != http.StatusBadGateway || !strings.Contains(string(body), "connection refused") {
		t.Errorf("failing authorizer: %d %s, want 502 naming the failure", code, body)
	}
}

var jsonHdr = map[string]string{"Content-Type": "application/json"}

// The state says, per Canary, whether the caller may command it, which
// the page shows its buttons for: asked once per namespace, and about the
// Canary itself only when the namespace is denied and it has a release to
// steer.
func TestStateSaysWhoMayCommand(t *testing.T) {
	auth := newFakeAuth()
	auth.callers["ops"] = &fakeCaller{name: "ops", view: map[string]bool{"test": true, "other": true},
		command: map[string]bool{"test/": true}, asked: map[string]int{}}
	auth.callers["alice"].view["other"] = true
	src := twoNamespaces()
	src.snap.Canaries[1].Status.Phase = v1beta1.PhaseSucceeded // other/podinfo: idle
	h := New(Options{Source: src, Auth: auth})
	commandable := func(tok string) map[string]bool {
		t.Helper()
		code, body := do(t, h, http.MethodGet, "/api/state", tok, nil)
		var st State
		if err := json.Unmarshal(body, &st); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %s", tok, code, body)
		}
		got := map[string]bool{}
		for _, c := range st.Canaries {
			got[c.Namespace+"/"+c.Name] = c.CanCommand
		}
		return got
	}
	for tok, want := range map[string]string{
		"ops":   "map[other/podinfo:false test/podinfo:true]", // the namespace test
		"alice": "map[other/podinfo:false test/podinfo:true]", // the Canary test/podinfo, in progress
		"bob":   "map[test/podinfo:false]",                    // views only
	} {
		if got := fmt.Sprint(commandable(tok)); got != want {
			t.Errorf("%s may command %s, want %s", tok, got, want)
		}
	}
	ops, alice := auth.callers["ops"].asked, auth.callers["alice"].asked
	if ops["command test/"] != 1 || ops["command test/podinfo"] != 0 || ops["command other/"] != 1 {
		t.Errorf("ops was asked %v, want once per namespace", ops)
	}
	// The idle Canary of a denied namespace costs no question of its own.
	if alice["command test/podinfo"] != 1 || alice["command other/podinfo"] != 0 {
		t.Errorf("alice was asked %v", alice)
	}
	// An open dashboard takes no commands, so it shows no buttons.
	open := New(Options{Source: twoNamespaces()})
	code, body := do(t, open, http.MethodGet, "/api/state", "", nil)
	if code != http.StatusOK || strings.Contains(string(body), `"canCommand":true`) {
		t.Errorf("open dashboard: %d %s", code, body)
	}
	// An authorizer that fails about commands denies the buttons, not the
	// page (one that fails about views fails the page: broke's 502 above).
	auth.callers["flaky"] = &fakeCaller{name: "flaky", view: map[string]bool{"test": true}, asked: map[string]int{},
		command: map[string]bool{"test/": true}, commandErr: errors.New("SubjectAccessReview: timeout")}
	if got := fmt.Sprint(commandable("flaky")); got != "map[test/podinfo:false]" {
		t.Errorf("flaky: %s", got)
	}
}

func TestCommand(t *testing.T) {
	src := twoNamespaces()
	h := New(Options{Source: src, Auth: newFakeAuth(), Context: t.Context()})
	code, body := do(t, h, http.MethodPost, "/api/canaries/test/podinfo/pause", "alice", map[string]string{
		"Content-Type": "application/json", "Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-origin",
	})
	var res CommandResult
	if err := json.Unmarshal(body, &res); err != nil || code != http.StatusAccepted || res.Command != "pause" || !strings.Contains(res.Message, "test/podinfo") {
		t.Fatalf("pause: %d %s, want 202", code, body)
	}
	if len(src.commands) != 1 || src.commands[0] != "test/podinfo pause" {
		t.Errorf("commands given = %v", src.commands)
	}
	// The command is a decision of the Canary's history.
	code, body = do(t, h, http.MethodGet, "/api/canaries/test/podinfo/history", "alice", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "pause requested by alice") {
		t.Errorf("history: %d %s, want the command among the decisions", code, body)
	}

	for _, tc := range []struct {
		what, path, token string
		hdr               map[string]string
		code              int
		want              string
	}{
		{"no token", "/api/canaries/test/podinfo/promote", "", jsonHdr, http.StatusUnauthorized, "unauthenticated"},
		{"not allowed", "/api/canaries/test/podinfo/promote", "bob", jsonHdr, http.StatusForbidden, `bob may not promote canary test/podinfo (verb "command")`},
		{"other namespace", "/api/canaries/other/podinfo/abort", "alice", jsonHdr, http.StatusForbidden, "alice may not abort canary other/podinfo"},
		{"form post", "/api/canaries/test/podinfo/promote", "alice", map[string]string{"Content-Type": "text/plain"}, http.StatusForbidden, "Content-Type: application/json"},
		{"foreign origin", "/api/canaries/test/podinfo/promote", "alice", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, http.StatusForbidden, "another origin (http://evil.example)"},
		{"cross site", "/api/canaries/test/podinfo/promote", "alice", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, "another site"},
		{"unknown command", "/api/canaries/test/podinfo/explode", "alice", jsonHdr, http.StatusNotFound, "must be one of promote, abort, pause, resume, retry"},
		{"failing authorizer", "/api/canaries/test/podinfo/promote", "broke", jsonHdr, http.StatusBadGateway, "connection refused"},
	} {
		code, body := do(t, h, http.MethodPost, tc.path, tc.token, tc.hdr)
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || code != tc.code || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.what, code, body, tc.code, tc.want)
		}
	}
	if len(src.commands) != 1 {
		t.Errorf("refused commands reached the runtime: %v", src.commands)
	}
	if code, _ := do(t, h, http.MethodGet, "/api/canaries/test/podinfo/promote", "alice", nil); code != http.StatusNotFound {
		t.Errorf("GET of a command: %d, want 404", code)
	}
}

func TestCommandWithoutAuthenticator(t *testing.T) {
	src := fixture()
	h := New(Options{Source: src})
	code, body := do(t, h, http.MethodPost, "/api/canaries/test/podinfo/promote", "", jsonHdr)
	if code != http.StatusForbidden || !strings.Contains(string(body), "need a credential") || len(src.commands) != 0 {
		t.Errorf("open dashboard: %d %s, commands %v; want 403 and nothing done", code, body, src.commands)
	}
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("canary test/podinfo: %w", local.ErrNotFound), http.StatusNotFound},
		{errors.New("canary test/podinfo: not found"), http.StatusNotFound}, // through the local API
		{errors.New("a command is still waiting for the controller"), http.StatusBadGateway},
		{fmt.Errorf("%w on /x", local.ErrNotRunningHere), http.StatusServiceUnavailable},
	} {
		src := fixture()
		src.err = tc.err
		h := New(Options{Source: src, Auth: newFakeAuth()})
		code, body := do(t, h, http.MethodPost, "/api/canaries/test/podinfo/promote", "alice", jsonHdr)
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || code != tc.code || !strings.Contains(e.Error, tc.err.Error()) || !strings.Contains(e.Error, "promote canary test/podinfo") {
			t.Errorf("%v: %d %s, want %d naming the command and the error", tc.err, code, body, tc.code)
		}
	}
}

func TestHostCheck(t *testing.T) {
	for _, tc := range []struct {
		addr, host string
		ok         bool
	}{
		{"", "127.0.0.1:9999", true},
		{"", "localhost:1234", true},
		{"", "[::1]:9999", true},
		{"", "evil.example:9999", false},
		{"127.0.0.1:9999", "localhost:9999", true},
		{"127.0.0.1:9999", "127.0.0.1:8080", false},
		{"127.0.0.1:9999", "attacker.example:9999", false},
		{"localhost:9999", "LOCALHOST:9999", true},
		{"0.0.0.0:9999", "dashboard.example:9999", true}, // not loopback: names are not checked
	} {
		h := New(Options{Source: fixture(), Addr: tc.addr})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ok := rec.Code == http.StatusOK; ok != tc.ok {
			t.Errorf("listening on %q, Host %q: %d %s, want ok=%v", tc.addr, tc.host, rec.Code, rec.Body, tc.ok)
		}
	}
}

func TestTokenAuth(t *testing.T) {
	a, err := NewTokenAuth()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewTokenAuth()
	if len(a.Token()) != 43 || a.Token() == b.Token() {
		t.Fatalf("tokens %q and %q: want two different 256-bit tokens", a.Token(), b.Token())
	}
	for hdr, ok := range map[string]bool{
		"Bearer " + a.Token(): true, "bearer " + a.Token(): true,
		"Bearer " + b.Token(): false, "": false, "Basic " + a.Token(): false, "Bearer ": false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		c, err := a.Authenticate(req)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrUnauthenticated)) {
			t.Errorf("Authorization %q: caller %v, err %v, want ok=%v", hdr, c, err, ok)
			continue
		}
		if ok {
			if can, _ := c.Can(context.Background(), VerbCommand, "any", "thing"); !can || c.Name() != "local" {
				t.Errorf("the local caller %q may not command", c.Name())
			}
		}
	}
}

func TestRecorder(t *testing.T) {
	src := fixture()
	now := t0
	r := newRecorder(src, func() time.Time { return now }, time.Second)
	c := &src.snap.Canaries[0]
	prim := 100.0
	c.Status.Metrics[0].Primary = &prim
	for i := range historyPoints + 10 {
		c.Status.CanaryWeight = i % 100
		r.record(src.snap, src.stats, now)
		now = now.Add(time.Second)
	}
	h, ok := r.history("test", "podinfo")
	if !ok || len(h.Points) != historyPoints {
		t.Fatalf("points = %d, want the last %d", len(h.Points), historyPoints)
	}
	first := h.Points[0]
	if first.Weight != 10 || first.T != t0.Add(10*time.Second).UnixMilli() || first.Phase != "Progressing" || !first.Paused {
		t.Errorf("oldest point = %+v, want the 11th sample", first)
	}
	m := first.Metrics["request-success-rate"]
	if m[0] == nil || *m[0] != 97.5 || m[1] == nil || *m[1] != 100 {
		t.Errorf("metric of a point = %v, want canary 97.5 and primary 100", m)
	}
	// The fixture's primary has traffic, its canary none.
	if g := first.Golden; g == nil || g[0] != nil || g[1] == nil || *g[1] != 100 || g[3] == nil || *g[3] != 12.5 {
		t.Errorf("golden metrics of a point = %v, want the primary's success 100 and p99 12.5 only", g)
	}
	if len(h.Thresholds) != 2 || h.Thresholds[0].Min == nil || *h.Thresholds[0].Min != 99 || h.Thresholds[1].Max == nil || *h.Thresholds[1].Max != 500 || h.Thresholds[1].Unit != "ms" {
		t.Errorf("thresholds = %+v", h.Thresholds)
	}
	// Points older than the age limit go.
	now = now.Add(historyAge - 100*time.Second)
	r.record(src.snap, nil, now)
	if h, _ := r.history("test", "podinfo"); len(h.Points) != 101 {
		t.Errorf("after %s: %d points, want the 100 within it and the new one", historyAge, len(h.Points))
	}
	// A repeated decision is counted; the ring of decisions is bounded.
	r.decide("test", "podinfo", Decision{Reason: "Paused", Message: "Paused at 40"})
	r.decide("test", "podinfo", Decision{Reason: "Paused", Message: "Paused at 40"})
	if h, _ := r.history("test", "podinfo"); len(h.Decisions) != 1 || h.Decisions[0].Count != 2 {
		t.Errorf("decisions = %+v, want one counted twice", h.Decisions)
	}
	for i := range historyDecisions + 5 {
		r.decide("test", "podinfo", Decision{Reason: "Progressing", Message: fmt.Sprint(i)})
	}
	if h, _ := r.history("test", "podinfo"); len(h.Decisions) != historyDecisions || h.Decisions[0].Message != "5" {
		t.Errorf("decisions: %d, first %+v; want the last %d", len(h.Decisions), h.Decisions[0], historyDecisions)
	}
	// A Canary that is gone is forgotten.
	r.record(local.Snapshot{Canaries: []v1beta1.Canary{}}, nil, now)
	if _, ok := r.history("test", "podinfo"); ok {
		t.Error("the history of a deleted Canary is still kept")
	}
}

// TestRecorderRuns checks that the handler's recorder samples the Source
// and records its Canary events, and serves them.
func TestRecorderRuns(t *testing.T) {
	src := fixture()
	h := New(Options{Source: src, Context: t.Context(), SampleEvery: 10 * time.Millisecond})
	var hist History
	eventually(t, 5*time.Second, func() bool {
		code, body := get(t, h, "/api/canaries/test/podinfo/history")
		return code.StatusCode == http.StatusOK && json.Unmarshal(body, &hist) == nil && len(hist.Points) >= 2 && len(hist.Decisions) > 0
	})
	if hist.Points[0].Weight != 30 || hist.Decisions[0].Message != "step 1" || hist.Decisions[len(hist.Decisions)-1].Message != "step 12" {
		t.Errorf("history = %+v", hist)
	}
	if resp, body := get(t, h, "/api/canaries/test/nope/history"); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "test/nope") {
		t.Errorf("history of an unknown Canary: %d %s", resp.StatusCode, body)
	}
}

func eventually(t *testing.T, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
