package kube

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/svcnames"
)

// tickerFunc is a Ticker that calls a function.
type tickerFunc func(c *v1beta1.Canary) rollout.Decision

func (f tickerFunc) Tick(_ context.Context, c *v1beta1.Canary, _ rollout.Command, _ bool, _ time.Time) (rollout.Decision, error) {
	return f(c), nil
}

func TestBlueGreenOnly(t *testing.T) {
	var got *v1beta1.Canary
	inner := tickerFunc(func(c *v1beta1.Canary) rollout.Decision {
		got = c
		return rollout.Decision{
			Status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing},
			Events: []rollout.Event{{Type: rollout.Normal, Reason: "Progressing", Message: "Starting canary analysis"}},
		}
	})
	b := blueGreenOnly{inner}
	c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{Analysis: &v1beta1.CanaryAnalysis{
		StepWeight: 10, Match: []v1beta1.HTTPMatchRequest{{}},
	}}}
	c.Status.Phase = v1beta1.PhaseInitialized

	d, err := b.Tick(t.Context(), c, rollout.NoCommand, false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Spec.Analysis; a.Iterations != 10 || a.Match != nil || got.Strategy() != v1beta1.StrategyBlueGreen {
		t.Errorf("engine got analysis %+v, want 10 blue/green iterations without matches", a)
	}
	if len(d.Events) != 3 || d.Events[0].Type != rollout.Warning || !strings.Contains(d.Events[0].Message, "A/B testing is not supported") ||
		!strings.Contains(d.Events[1].Message, "running 10 blue/green iterations") {
		t.Errorf("events at the start of the analysis = %+v", d.Events)
	}

	// Later ticks of the same analysis do not repeat the warnings.
	c.Status.Phase = v1beta1.PhaseProgressing
	c.Spec.Analysis = &v1beta1.CanaryAnalysis{StepWeight: 10}
	if d, _ := b.Tick(t.Context(), c, rollout.NoCommand, false, time.Time{}); len(d.Events) != 1 {
		t.Errorf("events of a later tick = %+v, want the engine's only", d.Events)
	}

	// A Canary written for blue/green runs as it is.
	c.Status.Phase = v1beta1.PhaseInitialized
	c.Spec.Analysis = &v1beta1.CanaryAnalysis{Iterations: 5}
	if d, _ := b.Tick(t.Context(), c, rollout.NoCommand, false, time.Time{}); len(d.Events) != 1 || got.Spec.Analysis.Iterations != 5 {
		t.Errorf("blue/green canary: events %+v, iterations %d", d.Events, got.Spec.Analysis.Iterations)
	}
}

// TestOptionsTransport checks that webhooks and alerts go through
// Options.Transport: with a svcnames table, Kubernetes names reach the
// address they map to; without, the system resolves them.
func TestOptionsTransport(t *testing.T) {
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Host + r.URL.Path
	}))
	defer srv.Close()
	tab := &svcnames.Table{}
	tab.Add(svcnames.Name{Service: "flagger-loadtester", Namespace: "test"}, 80, srv.Listener.Addr().String())
	tab.Add(svcnames.Name{Service: "alerts", Namespace: "test"}, 80, srv.Listener.Addr().String())
	d := &svcnames.Dialer{Table: func() *svcnames.Table { return tab }}

	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	provider := &v1beta1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "on-call"},
		Spec: v1beta1.AlertProviderSpec{Type: "webhook", Address: "http://alerts.test/hook"}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(provider).Build()
	canary := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"}}
	canary.Spec.Analysis = &v1beta1.CanaryAnalysis{
		Webhooks: []v1beta1.CanaryWebhook{{Name: "gate", Type: v1beta1.ConfirmRolloutHook, URL: "http://flagger-loadtester.test/gate/check"}},
		Alerts:   []v1beta1.CanaryAlert{{Name: "on-call", ProviderRef: v1beta1.CrossNamespaceObjectReference{Name: "on-call"}}},
	}

	h, n := newHooksAndNotifier(c, Options{Transport: d.Transport, Logger: slog.New(slog.DiscardHandler)}, v1beta1.Group)
	if r := h.Call(t.Context(), canary, v1beta1.ConfirmRolloutHook); len(r) != 1 || !r[0].OK {
		t.Fatalf("webhook through the table: %+v", r)
	}
	n.Notify(t.Context(), canary, rollout.Event{Type: rollout.Warning, Reason: "Failed", Message: "Canary failed! Scaling down podinfo.test", Alert: rollout.AlertError})
	want := map[string]bool{"flagger-loadtester.test/gate/check": true, "alerts.test/hook": true}
	for len(want) > 0 {
		select {
		case r := <-got:
			if !want[r] {
				t.Fatalf("unexpected request %s", r)
			}
			delete(want, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("no request for %v", want)
		}
	}

	// Without a transport (production), the name goes to the system's
	// resolver, which does not know it.
	h, _ = newHooksAndNotifier(c, Options{Logger: slog.New(slog.DiscardHandler)}, v1beta1.Group)
	if r := h.Call(t.Context(), canary, v1beta1.ConfirmRolloutHook); len(r) != 1 || r[0].OK {
		t.Fatalf("webhook without the table: %+v, want it not to reach the server", r)
	}
}
