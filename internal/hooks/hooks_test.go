package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// hookServer answers with the statuses in order (the last one repeats)
// and records the payloads it got.
type hookServer struct {
	*httptest.Server
	statuses []int

	mu        sync.Mutex
	payloads  []Payload
	types     []string
	hookTypes []string
}

func startHook(t *testing.T, statuses ...int) *hookServer {
	t.Helper()
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p Payload
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		n := len(h.payloads)
		h.payloads = append(h.payloads, p)
		h.types = append(h.types, r.Header.Get("Content-Type"))
		h.hookTypes = append(h.hookTypes, r.Header.Get(TypeHeader))
		h.mu.Unlock()
		status := h.statuses[min(n, len(h.statuses)-1)]
		w.WriteHeader(status)
		_, _ = w.Write([]byte("reply " + http.StatusText(status)))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) calls() []Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Payload(nil), h.payloads...)
}

func canary(hooks ...v1beta1.CanaryWebhook) *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
			Analysis:  &v1beta1.CanaryAnalysis{Webhooks: hooks},
		},
		Status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, LastAppliedSpec: "5d8f9c7b6"},
	}
}

func newCaller() *Caller { return New(Options{Backoff: time.Millisecond}) }

func TestCallPayload(t *testing.T) {
	srv := startHook(t, 200)
	c := canary(v1beta1.CanaryWebhook{
		Name: "load-test", Type: v1beta1.PreRolloutHook, URL: srv.URL + "/check",
		Metadata: map[string]string{"cmd": "hey -z 1m http://podinfo-canary.test:9898/"},
	})
	res := newCaller().Call(context.Background(), c, v1beta1.PreRolloutHook)
	if len(res) != 1 || !res[0].OK || res[0].Name != "load-test" || res[0].Type != v1beta1.PreRolloutHook {
		t.Fatalf("results = %+v", res)
	}
	got := srv.calls()
	if len(got) != 1 {
		t.Fatalf("%d calls, want 1", len(got))
	}
	want := Payload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Checksum: "5d8f9c7b6",
		Metadata: map[string]string{"cmd": "hey -z 1m http://podinfo-canary.test:9898/"}}
	if got[0].Name != want.Name || got[0].Namespace != want.Namespace || got[0].Phase != want.Phase ||
		got[0].Checksum != want.Checksum || got[0].Metadata["cmd"] != want.Metadata["cmd"] {
		t.Errorf("payload = %+v, want %+v", got[0], want)
	}
	if srv.types[0] != "application/json" {
		t.Errorf("Content-Type = %q", srv.types[0])
	}
	if srv.hookTypes[0] != "pre-rollout" {
		t.Errorf("%s = %q, want pre-rollout", TypeHeader, srv.hookTypes[0])
	}
}

func TestCallStatuses(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		retries   int
		wantOK    bool
		wantCalls int
		wantMsg   string
	}{
		{name: "200", statuses: []int{200}, wantOK: true, wantCalls: 1, wantMsg: "status 200"},
		{name: "201", statuses: []int{201}, wantOK: true, wantCalls: 1},
		{name: "202", statuses: []int{202}, wantOK: true, wantCalls: 1},
		{name: "204 is not OK", statuses: []int{204}, retries: 3, wantCalls: 1, wantMsg: "status 204"},
		{name: "403 is an answer, not retried", statuses: []int{403}, retries: 3, wantCalls: 1, wantMsg: "status 403: reply Forbidden"},
		{name: "500 retried then given up", statuses: []int{500}, retries: 2, wantCalls: 3, wantMsg: "status 500: reply Internal Server Error (after 2 retries)"},
		{name: "503 then 200", statuses: []int{503, 200}, retries: 2, wantOK: true, wantCalls: 2},
		{name: "429 retried", statuses: []int{429, 202}, retries: 1, wantOK: true, wantCalls: 2},
		{name: "no retries", statuses: []int{500}, wantCalls: 1, wantMsg: "status 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHook(t, tt.statuses...)
			c := canary(v1beta1.CanaryWebhook{Name: "gate", Type: v1beta1.ConfirmPromotionHook, URL: srv.URL, Retries: tt.retries})
			res := newCaller().Call(context.Background(), c, v1beta1.ConfirmPromotionHook)
			if len(res) != 1 {
				t.Fatalf("results = %+v", res)
			}
			if res[0].OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (%s)", res[0].OK, tt.wantOK, res[0].Message)
			}
			if n := len(srv.calls()); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if !strings.Contains(res[0].Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", res[0].Message, tt.wantMsg)
			}
			if !tt.wantOK && (!strings.Contains(res[0].Message, "gate") || !strings.Contains(res[0].Message, srv.URL)) {
				t.Errorf("message %q does not name the webhook and its URL", res[0].Message)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := canary(v1beta1.CanaryWebhook{Name: "slow", Type: v1beta1.RolloutHook, URL: srv.URL, Timeout: "50ms"})
	start := time.Now()
	res := newCaller().Call(context.Background(), c, v1beta1.RolloutHook)
	if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Message, "no reply within 50ms") {
		t.Fatalf("results = %+v, want a timeout", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v, want it cut off near 50ms", d)
	}
}

func TestCallTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c := canary(v1beta1.CanaryWebhook{Name: "gone", URL: addr, Retries: 1})
	res := newCaller().Call(context.Background(), c, v1beta1.RolloutHook)
	if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Message, "webhook gone ("+addr+")") ||
		!strings.Contains(res[0].Message, "connection refused") {
		t.Fatalf("results = %+v", res)
	}
}

func TestCallSelectsByType(t *testing.T) {
	a := startHook(t, 200)
	b := startHook(t, 500)
	other := startHook(t, 200)
	c := canary(
		v1beta1.CanaryWebhook{Name: "a", URL: a.URL}, // no type: rollout
		v1beta1.CanaryWebhook{Name: "pre", Type: v1beta1.PreRolloutHook, URL: other.URL},
		v1beta1.CanaryWebhook{Name: "b", Type: v1beta1.RolloutHook, URL: b.URL},
	)
	res := newCaller().Call(context.Background(), c, v1beta1.RolloutHook)
	if len(res) != 2 || res[0].Name != "a" || !res[0].OK || res[1].Name != "b" || res[1].OK {
		t.Fatalf("results = %+v, want a OK then b failed", res)
	}
	if len(other.calls()) != 0 {
		t.Error("a pre-rollout hook was called for the rollout gate")
	}
	if a.hookTypes[0] != "rollout" {
		t.Errorf("a webhook without a type was called with %s %q, want rollout", TypeHeader, a.hookTypes[0])
	}
	if res := newCaller().Call(context.Background(), c, v1beta1.RollbackHook); len(res) != 0 {
		t.Errorf("rollback results = %+v, want none", res)
	}
	if res := newCaller().Call(context.Background(), &v1beta1.Canary{}, v1beta1.RolloutHook); len(res) != 0 {
		t.Errorf("results without analysis = %+v", res)
	}
}

func TestCallBadSpec(t *testing.T) {
	tests := []struct {
		hook    v1beta1.CanaryWebhook
		wantMsg string
	}{
		{v1beta1.CanaryWebhook{Name: "x", URL: "podinfo:9898/check"}, "absolute http or https URL"},
		{v1beta1.CanaryWebhook{Name: "x", URL: "ftp://host/x"}, "absolute http or https URL"},
		{v1beta1.CanaryWebhook{Name: "x", URL: "http://127.0.0.1:1/", Timeout: "ten"}, `timeout "ten"`},
	}
	for _, tt := range tests {
		res := newCaller().Call(context.Background(), canary(tt.hook), v1beta1.RolloutHook)
		if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Message, tt.wantMsg) {
			t.Errorf("%+v: results = %+v, want %q", tt.hook, res, tt.wantMsg)
		}
	}
}

func TestCallCancelledDuringBackoff(t *testing.T) {
	srv := startHook(t, 500)
	c := canary(v1beta1.CanaryWebhook{Name: "flaky", URL: srv.URL, Retries: 5})
	ctx, cancel := context.WithCancel(context.Background())
	h := New(Options{Backoff: time.Hour})
	done := make(chan []rollout.HookResult)
	go func() { done <- h.Call(ctx, c, v1beta1.RolloutHook) }()
	// Cancel once the first attempt has been answered.
	for len(srv.calls()) == 0 {
		select {
		case res := <-done:
			t.Fatalf("returned before cancel: %+v", res)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case res := <-done:
		if len(res) != 1 || res[0].OK || !strings.Contains(res[0].Message, "context canceled") {
			t.Fatalf("results = %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Call did not return after cancel")
	}
}

func TestNotifyEventHooks(t *testing.T) {
	events := startHook(t, 200)
	gate := startHook(t, 200)
	c := canary(
		v1beta1.CanaryWebhook{Name: "events", Type: v1beta1.EventHook, URL: events.URL, Metadata: map[string]string{"team": "web"}},
		v1beta1.CanaryWebhook{Name: "gate", Type: v1beta1.ConfirmRolloutHook, URL: gate.URL},
	)
	at := time.UnixMilli(1_800_000_000_123)
	h := New(Options{Now: func() time.Time { return at }})
	h.Notify(context.Background(), c, rollout.Event{Type: rollout.Warning, Reason: "Synced", Message: "Halt podinfo.test advancement"})
	_ = h.Drain(context.Background())
	got := events.calls()
	if len(got) != 1 {
		t.Fatalf("%d event calls, want 1", len(got))
	}
	md := got[0].Metadata
	if md["eventMessage"] != "Halt podinfo.test advancement" || md["eventType"] != "Warning" ||
		md["timestamp"] != "1800000000123" || md["team"] != "web" {
		t.Errorf("metadata = %v", md)
	}
	if len(gate.calls()) != 0 {
		t.Error("a confirm-rollout hook got an event")
	}
	if c.Spec.Analysis.Webhooks[0].Metadata["eventMessage"] != "" {
		t.Error("Notify changed the Canary's metadata")
	}
}

// TestNotifyEventWebhook checks the controller's -event-webhook: it gets
// the events of a Canary without event webhooks, and not those of one that
// has its own, as in Flagger.
func TestNotifyEventWebhook(t *testing.T) {
	global := startHook(t, 200)
	own := startHook(t, 200)
	h := New(Options{EventWebhook: global.URL, Now: func() time.Time { return time.UnixMilli(42) }})
	e := rollout.Event{Type: rollout.Normal, Reason: "Progressing", Message: "Advance podinfo.test canary weight 10"}

	h.Notify(context.Background(), canary(v1beta1.CanaryWebhook{Name: "gate", Type: v1beta1.ConfirmRolloutHook, URL: own.URL}), e)
	_ = h.Drain(context.Background())
	got := global.calls()
	if len(got) != 1 {
		t.Fatalf("%d calls of the global event webhook, want 1", len(got))
	}
	if got[0].Name != "podinfo" || got[0].Namespace != "test" || got[0].Metadata["eventMessage"] != e.Message ||
		got[0].Metadata["eventType"] != "Normal" || got[0].Metadata["timestamp"] != "42" {
		t.Errorf("payload = %+v", got[0])
	}

	h.Notify(context.Background(), canary(v1beta1.CanaryWebhook{Name: "events", Type: v1beta1.EventHook, URL: own.URL}), e)
	_ = h.Drain(context.Background())
	if n := len(global.calls()); n != 1 {
		t.Errorf("the global event webhook got the event of a Canary with its own (%d calls)", n)
	}
	if n := len(own.calls()); n != 1 {
		t.Errorf("the Canary's event webhook got %d calls, want 1", n)
	}
}

// Event webhooks are called in the background: one that hangs holds
// neither Notify (the release's tick) nor the Canary's other event
// webhook, each gets the events in order, and a failure is reported.
func TestNotifyEventHooksInBackground(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	ok, failing := startHook(t, 200), startHook(t, 500)
	c := canary(
		v1beta1.CanaryWebhook{Name: "hung", Type: v1beta1.EventHook, URL: hung.URL, Timeout: "1h"},
		v1beta1.CanaryWebhook{Name: "ok", Type: v1beta1.EventHook, URL: ok.URL},
		v1beta1.CanaryWebhook{Name: "failing", Type: v1beta1.EventHook, URL: failing.URL},
	)
	var (
		mu   sync.Mutex
		errs []string
	)
	h := New(Options{Backoff: time.Millisecond, OnEventError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err.Error())
	}})
	done := make(chan struct{})
	go func() {
		for i := range 5 {
			h.Notify(context.Background(), c, rollout.Event{Type: rollout.Normal, Reason: "Progressing", Message: fmt.Sprint("event ", i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify waited for a hanging event webhook")
	}
	testWait(t, "the events at the webhooks that answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok.calls()) == 5 && len(errs) == 5
	})
	for i, p := range ok.calls() {
		if p.Metadata["eventMessage"] != fmt.Sprint("event ", i) {
			t.Errorf("call %d got %q, want the events in order", i, p.Metadata["eventMessage"])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 5 || !strings.Contains(errs[0], "canary test/podinfo: event not sent: webhook failing ("+failing.URL+")") {
		t.Errorf("errors %q, want the 5 events the failing webhook refused", errs)
	}
}

// testWait polls cond until it holds, for up to 10s.
func testWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A webhook served with a certificate no CA vouches for fails unless it
// has disableTLS, which skips the verification for that webhook only.
func TestCallDisableTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c := canary(
		v1beta1.CanaryWebhook{Name: "verified", Type: v1beta1.PreRolloutHook, URL: srv.URL},
		v1beta1.CanaryWebhook{Name: "unverified", Type: v1beta1.PreRolloutHook, URL: srv.URL, DisableTLS: true},
	)
	res := newCaller().Call(context.Background(), c, v1beta1.PreRolloutHook)
	if len(res) != 2 {
		t.Fatalf("results = %+v", res)
	}
	if res[0].OK || !strings.Contains(res[0].Message, "certificate") {
		t.Errorf("verified webhook: %+v, want a certificate error", res[0])
	}
	if !res[1].OK {
		t.Errorf("webhook with disableTLS: %+v, want OK", res[1])
	}
}
