package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// sink records the bodies posted to it, by path.
type sink struct {
	*httptest.Server
	status int

	mu    sync.Mutex
	posts []post
}

type post struct {
	path string
	body map[string]any
}

func startSink(t *testing.T, status int) *sink {
	t.Helper()
	s := &sink{status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want JSON", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posts = append(s.posts, post{path: r.URL.Path, body: m})
		s.mu.Unlock()
		w.WriteHeader(s.status)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) got() []post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]post(nil), s.posts...)
}

func canary(alerts ...v1beta1.CanaryAlert) *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Analysis:  &v1beta1.CanaryAnalysis{Alerts: alerts},
		},
		Status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing},
	}
}

func alert(name, provider, severity string) v1beta1.CanaryAlert {
	return v1beta1.CanaryAlert{Name: name, Severity: severity, ProviderRef: v1beta1.CrossNamespaceObjectReference{Name: provider}}
}

func providers(ps ...*v1beta1.AlertProvider) ProviderLookup {
	return func(_ context.Context, namespace, name string) (*v1beta1.AlertProvider, error) {
		for _, p := range ps {
			if p.Namespace == namespace && p.Name == name {
				return p, nil
			}
		}
		return nil, fmt.Errorf("alertprovider %s/%s not found", namespace, name)
	}
}

func provider(ns, name, typ, addr string) *v1beta1.AlertProvider {
	return &v1beta1.AlertProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1beta1.AlertProviderSpec{Type: typ, Address: addr, Channel: "releases", Username: "serin"},
	}
}

var (
	promoted = rollout.Event{Type: rollout.Normal, Reason: "Succeeded", Message: "Promotion completed! podinfo.test", Alert: rollout.AlertInfo}
	waiting  = rollout.Event{Type: rollout.Normal, Reason: "Waiting", Message: "Waiting for approval to promote podinfo.test", Alert: rollout.AlertWarn}
	// The second of a rollback's two events: the first does not alert.
	rolledBck = rollout.Event{Type: rollout.Warning, Reason: "Failed", Message: "Canary failed! Scaling down podinfo.test: rolled back", Alert: rollout.AlertError}
)

func TestSeverity(t *testing.T) {
	tests := []struct {
		e      rollout.Event
		want   Severity
		alerts bool
	}{
		{promoted, Info, true},
		{waiting, Warn, true},
		{rolledBck, Error, true},
		// Only the level counts, not the type or reason.
		{rollout.Event{Type: rollout.Warning, Reason: "Failed", Message: "Rolling back podinfo.test"}, rollout.NoAlert, false},
		{rollout.Event{Type: rollout.Warning, Reason: "Progressing", Message: "Halt advancement"}, rollout.NoAlert, false},
	}
	for _, tt := range tests {
		if got, alerts := SeverityOf(tt.e); got != tt.want || alerts != tt.alerts {
			t.Errorf("SeverityOf(%+v) = %v, %t, want %v, %t", tt.e, got, alerts, tt.want, tt.alerts)
		}
	}
	if _, err := ParseSeverity("critical"); err == nil {
		t.Error("ParseSeverity(critical) should fail")
	}
}

func TestSeverityFilter(t *testing.T) {
	s := startSink(t, 200)
	c := canary(alert("all", "hook", ""), alert("warnings", "hook", "warn"), alert("errors", "hook", "error"))
	n := New(Options{Providers: providers(provider("test", "hook", "webhook", s.URL))})
	recorded := rollout.Event{Type: rollout.Warning, Reason: "Progressing", Message: "Halt advancement podinfo.test: failed check 1/2"}
	for _, e := range []rollout.Event{promoted, waiting, rolledBck, recorded} {
		n.Notify(context.Background(), c, e)
		n.Flush()
	}
	// info: 1 alert; warn: 2; error: 3; an event that does not alert: none.
	counts := map[string]int{}
	for _, p := range s.got() {
		counts[p.body["reason"].(string)]++
	}
	want := map[string]int{"Succeeded": 1, "Waiting": 2, "Failed": 3}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("posts by reason = %v, want %v", counts, want)
	}
}

func TestPayloads(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		typ      string
		wantPath string
		check    func(t *testing.T, body map[string]any)
	}{
		{typ: "slack", wantPath: "/hook", check: checkSlack},
		{typ: "rocket", wantPath: "/hook", check: checkSlack},
		{typ: "discord", wantPath: "/hook/slack", check: checkSlack},
		{typ: "gchat", wantPath: "/hook", check: checkText},
		{typ: "msteams", wantPath: "/hook", check: checkText},
		{typ: "mattermost", wantPath: "/hook", check: checkText},
		{typ: "webhook", wantPath: "/hook", check: func(t *testing.T, b map[string]any) {
			want := map[string]any{
				"name": "podinfo", "namespace": "test", "phase": "Progressing", "type": "Warning",
				"reason": "Failed", "message": rolledBck.Message, "severity": "error",
				"timestamp": "2026-05-01T12:00:00Z",
			}
			if fmt.Sprint(b) != fmt.Sprint(want) {
				t.Errorf("event = %v, want %v", b, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			s := startSink(t, 200)
			var errs []error
			n := New(Options{
				Providers: providers(provider("test", "p", tt.typ, s.URL+"/hook")),
				Now:       func() time.Time { return at },
				OnError:   func(err error) { errs = append(errs, err) },
			})
			n.Notify(context.Background(), canary(alert("a", "p", "")), rolledBck)
			n.Flush()
			if len(errs) != 0 {
				t.Fatalf("errors: %v", errs)
			}
			got := s.got()
			if len(got) != 1 || got[0].path != tt.wantPath {
				t.Fatalf("posts = %+v, want one to %s", got, tt.wantPath)
			}
			tt.check(t, got[0].body)
		})
	}
}

func checkSlack(t *testing.T, b map[string]any) {
	t.Helper()
	if b["channel"] != "releases" || b["username"] != "serin" {
		t.Errorf("channel/username = %v/%v", b["channel"], b["username"])
	}
	atts, _ := b["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments = %v", b["attachments"])
	}
	a := atts[0].(map[string]any)
	if a["color"] != "danger" || a["author_name"] != "podinfo.test" || a["text"] != rolledBck.Message {
		t.Errorf("attachment = %v", a)
	}
	if fields := fmt.Sprint(a["fields"]); !strings.Contains(fields, "Deployment/podinfo") || !strings.Contains(fields, "value:Failed") {
		t.Errorf("fields = %s", fields)
	}
}

func checkText(t *testing.T, b map[string]any) {
	t.Helper()
	want := "[error] podinfo.test: " + rolledBck.Message
	if len(b) != 1 || b["text"] != want {
		t.Errorf("body = %v, want only text %q", b, want)
	}
}

func TestProviderResolution(t *testing.T) {
	s := startSink(t, 200)
	secretSink := startSink(t, 200)
	withSecret := provider("test", "secret", "slack", "")
	withSecret.Spec.SecretRef = &v1beta1.LocalSecretReference{Name: "slack-url"}
	lookup := providers(
		provider("ops", "shared", "slack", s.URL),
		withSecret,
		provider("test", "no-address", "slack", ""),
		provider("test", "bad-proxy", "slack", s.URL),
	)
	lookup2 := func(ctx context.Context, ns, name string) (*v1beta1.AlertProvider, error) {
		p, err := lookup(ctx, ns, name)
		if err == nil && name == "bad-proxy" {
			p = p.DeepCopy()
			p.Spec.Proxy = "::not a url"
		}
		return p, err
	}
	secrets := func(_ context.Context, ns, name string) (map[string][]byte, error) {
		if ns == "test" && name == "slack-url" {
			return map[string][]byte{"address": []byte(secretSink.URL + "/services/T0")}, nil
		}
		return nil, errors.New("not found")
	}
	// OnError is called by the providers' senders, concurrently.
	var (
		mu   sync.Mutex
		errs []string
	)
	n := New(Options{Providers: lookup2, Secrets: secrets, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}})
	shared := alert("shared", "shared", "")
	shared.ProviderRef.Namespace = "ops"
	c := canary(shared, alert("secret", "secret", ""), alert("missing", "missing", ""), alert("no-address", "no-address", ""),
		alert("bad-proxy", "bad-proxy", ""), alert("bad-severity", "shared", "critical"))
	n.Notify(context.Background(), c, waiting)
	n.Flush()

	if len(s.got()) != 1 {
		t.Errorf("provider in another namespace got %d posts, want 1", len(s.got()))
	}
	if got := secretSink.got(); len(got) != 1 || got[0].path != "/services/T0" {
		t.Errorf("secret address got %+v", got)
	}
	want := []string{
		`alert bad-proxy of canary test/podinfo: AlertProvider test/bad-proxy: proxy "::not a url" is not a URL`,
		`alert bad-severity of canary test/podinfo: severity "critical": want info, warn or error`,
		"alert missing of canary test/podinfo: get AlertProvider test/missing: alertprovider test/missing not found",
		"alert no-address of canary test/podinfo: AlertProvider test/no-address: no address",
	}
	slices.Sort(errs)
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

func TestSendFailure(t *testing.T) {
	s := startSink(t, 500)
	var errs []error
	n := New(Options{Providers: providers(provider("test", "p", "slack", s.URL)), OnError: func(err error) { errs = append(errs, err) }})
	n.Notify(context.Background(), canary(alert("a", "p", "")), waiting)
	n.Flush()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "status 500") || !strings.Contains(errs[0].Error(), "test/p (slack)") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	var errs []error
	n := New(Options{Providers: providers(provider("test", "p", "webhook", srv.URL)), Timeout: 50 * time.Millisecond,
		OnError: func(err error) { errs = append(errs, err) }})
	n.Notify(context.Background(), canary(alert("a", "p", "")), waiting)
	n.Flush()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "deadline exceeded") {
		t.Fatalf("errors = %v, want a timeout", errs)
	}
}

func TestProxy(t *testing.T) {
	// The "proxy" is a plain HTTP server: a proxied request arrives with
	// the absolute target URL.
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
	}))
	t.Cleanup(proxy.Close)
	p := provider("test", "p", "slack", "http://hooks.example.invalid/services/T0")
	p.Spec.Proxy = proxy.URL
	var errs []error
	n := New(Options{Providers: providers(p), OnError: func(err error) { errs = append(errs, err) }})
	n.Notify(context.Background(), canary(alert("a", "p", "")), waiting)
	n.Flush()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 0 || len(seen) != 1 || seen[0] != "http://hooks.example.invalid/services/T0" {
		t.Fatalf("proxy saw %v, errors %v", seen, errs)
	}
}

type counting struct{ n int }

func (c *counting) Notify(context.Context, *v1beta1.Canary, rollout.Event) { c.n++ }

func TestMultiAndNop(t *testing.T) {
	a, b := &counting{}, &counting{}
	Multi{a, Nop{}, b}.Notify(context.Background(), canary(), waiting)
	if a.n != 1 || b.n != 1 {
		t.Errorf("calls = %d, %d, want 1, 1", a.n, b.n)
	}
	// No analysis, no alerts: nothing to do, nothing to fail.
	New(Options{}).Notify(context.Background(), &v1beta1.Canary{}, waiting)
}

// TestNotifyDoesNotWait: Notify returns while the receiver holds a message;
// the messages reach it in order once it answers, and past the queue's
// bound they are dropped with an error.
func TestNotifyDoesNotWait(t *testing.T) {
	release := make(chan struct{})
	var (
		mu   sync.Mutex
		msgs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e Event
		_ = json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		msgs = append(msgs, e.Message)
		mu.Unlock()
		<-release
	}))
	defer srv.Close()
	var dropped []error
	var emu sync.Mutex
	n := New(Options{Providers: providers(provider("test", "p", "webhook", srv.URL)), OnError: func(err error) {
		emu.Lock()
		dropped = append(dropped, err)
		emu.Unlock()
	}})
	c := canary(alert("a", "p", ""))
	done := make(chan struct{})
	go func() {
		for i := range maxQueue + 3 {
			n.Notify(context.Background(), c, rollout.Event{Type: rollout.Normal, Reason: "Succeeded", Message: fmt.Sprint("event ", i), Alert: rollout.AlertInfo})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("Notify waited for the receiver")
	}
	close(release)
	n.Flush()
	mu.Lock()
	defer mu.Unlock()
	for i, m := range msgs {
		if m != fmt.Sprint("event ", i) {
			t.Fatalf("message %d = %q, want the events in order", i, m)
		}
	}
	emu.Lock()
	defer emu.Unlock()
	// One message is being sent and maxQueue wait: the rest is dropped.
	if len(msgs)+len(dropped) != maxQueue+3 || len(dropped) < 2 || !strings.Contains(dropped[0].Error(), "message dropped") {
		t.Errorf("%d sent, %d dropped (%v), want %d in all with the overflow dropped", len(msgs), len(dropped), dropped, maxQueue+3)
	}
}

// TestGlobal checks the controller's own destination (Flagger's
// -slack-url, -msteams-url, -cluster-name): it gets the alerts of
// Canaries without alerts only.
func TestGlobal(t *testing.T) {
	s := startSink(t, 200)
	n := New(Options{
		Providers:   providers(provider("test", "hook", "webhook", s.URL+"/own")),
		Global:      &Global{Type: "slack", Address: s.URL + "/slack", Channel: "general", Username: "flagger"},
		ClusterName: "prod-eu",
	})
	events := []rollout.Event{
		{Type: rollout.Normal, Reason: "NewRevision", Message: "New revision detected! Scaling up podinfo.test", Alert: rollout.AlertInfo},
		{Type: rollout.Normal, Reason: "Progressing", Message: "Advance podinfo.test canary weight 10"},
		{Type: rollout.Warning, Reason: "Failed", Message: "Rolling back podinfo.test"},
		{Type: rollout.Warning, Reason: "Failed", Message: "Canary failed! Scaling down podinfo.test", Alert: rollout.AlertError},
	}
	for _, e := range events {
		n.Notify(context.Background(), canary(), e)
		n.Notify(context.Background(), canary(alert("own", "hook", "")), e)
	}
	n.Flush()
	var global, own []post
	for _, p := range s.got() {
		if p.path == "/slack" {
			global = append(global, p)
		} else {
			own = append(own, p)
		}
	}
	if len(own) != 2 {
		t.Errorf("the Canary with alerts sent %d, want the 2 alerts to its own provider", len(own))
	}
	if len(global) != 2 {
		t.Fatalf("global destination got %d posts, want 2 (new revision, failure): %v", len(global), global)
	}
	b := global[1].body
	att := b["attachments"].([]any)[0].(map[string]any)
	if b["channel"] != "general" || b["username"] != "flagger" || att["color"] != "danger" ||
		att["author_name"] != "podinfo.test (cluster prod-eu)" || !strings.Contains(fmt.Sprint(att["fields"]), "title:Cluster value:prod-eu") {
		t.Errorf("global slack message = %v", b)
	}
}

func TestGlobalTeamsAndToken(t *testing.T) {
	s := startSink(t, 200)
	n := New(Options{Global: &Global{Type: "msteams", Address: s.URL + "/teams"}})
	n.Notify(context.Background(), canary(), promoted)
	n.Flush()
	if got := s.got(); len(got) != 1 || got[0].body["text"] != "[info] podinfo.test: Promotion completed! podinfo.test" {
		t.Errorf("teams posts = %v", got)
	}

	// Slack's API: a bearer token, and an answer that must say ok.
	var auth []string
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer xoxb-good" {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(api.Close)
	var errs []error
	for _, token := range []string{"xoxb-good", "xoxb-bad"} {
		n := New(Options{
			Global:  &Global{Type: "slack", Address: api.URL, Token: token, Channel: "general"},
			OnError: func(err error) { errs = append(errs, err) },
		})
		n.Notify(context.Background(), canary(), promoted)
		n.Flush()
	}
	if len(auth) != 2 || auth[0] != "Bearer xoxb-good" {
		t.Errorf("authorization headers = %q", auth)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "invalid_auth") {
		t.Errorf("errors = %v, want one naming invalid_auth", errs)
	}
}
