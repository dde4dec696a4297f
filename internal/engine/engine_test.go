package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/rollout"
)

// fakeWorkload is a workload whose state the test sets; Apply records the
// actions and can fail.
type fakeWorkload struct {
	state   rollout.WorkloadState
	applied []rollout.ActionType
	fail    rollout.ActionType
	obsErr  error
}

func (f *fakeWorkload) Observe(context.Context, *v1beta1.Canary) (rollout.WorkloadState, error) {
	return f.state, f.obsErr
}

func (f *fakeWorkload) Apply(_ context.Context, _ *v1beta1.Canary, a rollout.Action) error {
	if a.Type == f.fail {
		return errors.New("apply refused")
	}
	f.applied = append(f.applied, a.Type)
	return nil
}

type fakeRouter struct{ routes []rollout.Routes }

func (f *fakeRouter) SetRoutes(_ context.Context, _ *v1beta1.Canary, r rollout.Routes) error {
	f.routes = append(f.routes, r)
	return nil
}

type fakeSource struct {
	obs   map[string]judge.Observation
	err   error
	since []time.Time
}

func (f *fakeSource) Query(_ context.Context, _ *v1beta1.Canary, m v1beta1.CanaryMetric, since time.Time) (judge.Observation, error) {
	f.since = append(f.since, since)
	return f.obs[m.Name], f.err
}

type fakeHooks struct {
	results map[v1beta1.HookType]bool
	called  []v1beta1.HookType
}

func (f *fakeHooks) Call(_ context.Context, _ *v1beta1.Canary, t v1beta1.HookType) []rollout.HookResult {
	f.called = append(f.called, t)
	return []rollout.HookResult{{Name: "h-" + string(t), Type: t, OK: f.results[t], Message: "answered"}}
}

type fakeNotifier struct{ events []rollout.Event }

func (f *fakeNotifier) Notify(_ context.Context, _ *v1beta1.Canary, e rollout.Event) {
	f.events = append(f.events, e)
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newCanary(webhooks ...v1beta1.CanaryWebhook) *v1beta1.Canary {
	floor := 99.0
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", Threshold: 2, StepWeight: 50,
				Metrics:  []v1beta1.CanaryMetric{{Name: "request-success-rate", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: &floor}}},
				Webhooks: webhooks,
			},
		},
	}
}

func ready(n int32) rollout.Readiness { return rollout.Readiness{Desired: n, Updated: n, Ready: n} }

func TestTickInitializes(t *testing.T) {
	w := &fakeWorkload{state: rollout.WorkloadState{TargetFound: true, TargetRevision: "r1", Target: ready(2)}}
	r, n := &fakeRouter{}, &fakeNotifier{}
	e := New(w, r, &fakeSource{}, nil, n)
	c := newCanary()

	d, err := e.Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(types(w.applied), ","); got != "InitPrimary" {
		t.Errorf("first tick applied %s, want InitPrimary", got)
	}
	c.Status = d.Status
	w.state.PrimaryFound, w.state.Primary = true, ready(2)
	d, err = e.Tick(context.Background(), c, rollout.NoCommand, false, t0.Add(d.RequeueAfter))
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != v1beta1.PhaseInitialized {
		t.Errorf("phase = %s, want Initialized", d.Status.Phase)
	}
	if len(r.routes) != 1 || r.routes[0].PrimaryWeight != 100 {
		t.Errorf("routes = %+v, want all traffic to the primary", r.routes)
	}
	if !hasEvent(n.events, "Initialization done! podinfo.test") {
		t.Errorf("notifier did not get the initialization event: %+v", n.events)
	}
}

// initialized returns a Canary that is initialized and a workload with a new
// revision whose canary is ready.
func initialized(c *v1beta1.Canary) *fakeWorkload {
	c.Status = v1beta1.CanaryStatus{Phase: v1beta1.PhaseInitialized, LastAppliedSpec: "r1", LastPromotedSpec: "r1"}
	return &fakeWorkload{state: rollout.WorkloadState{
		TargetFound: true, TargetRevision: "r2", Target: ready(2), PrimaryFound: true, Primary: ready(2),
	}}
}

func TestTickStartsAndStepsInOneTick(t *testing.T) {
	c := newCanary()
	w := initialized(c)
	r := &fakeRouter{}
	d, err := New(w, r, &fakeSource{}, nil, nil).Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != v1beta1.PhaseProgressing || d.Status.CanaryWeight != 50 {
		t.Errorf("got %s at weight %d, want Progressing at 50", d.Status.Phase, d.Status.CanaryWeight)
	}
	if len(r.routes) != 1 || r.routes[0].CanaryWeight != 50 {
		t.Errorf("routes = %+v, want one step to 50", r.routes)
	}
}

func TestTickQueryErrorIsAnObservation(t *testing.T) {
	c := newCanary()
	w := initialized(c)
	src := &fakeSource{err: errors.New("dial tcp 127.0.0.1:9090: connection refused")}
	e := New(w, &fakeRouter{}, src, nil, nil)
	d, err := e.Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	c.Status = d.Status
	d, err = e.Tick(context.Background(), c, rollout.NoCommand, false, t0.Add(10*time.Second))
	if err != nil {
		t.Fatalf("a query error failed the tick: %v", err)
	}
	if len(src.since) != 1 || !src.since[0].Equal(t0) {
		t.Errorf("metrics queried since %v, want once since the analysis start %v", src.since, t0)
	}
	if d.Status.FailedChecks != 0 || !strings.Contains(d.Status.Message, "connection refused") {
		t.Errorf("status = %d failed checks, %q; want a hold that names the error", d.Status.FailedChecks, d.Status.Message)
	}
	if len(d.Results) != 1 || d.Results[0].Verdict != judge.Wait {
		t.Errorf("results = %+v, want one wait", d.Results)
	}
}

func TestTickStopsAtTheFirstClosedGate(t *testing.T) {
	c := newCanary(
		v1beta1.CanaryWebhook{Name: "approve", Type: v1beta1.ConfirmRolloutHook, URL: "http://gate"},
		v1beta1.CanaryWebhook{Name: "undo", Type: v1beta1.RollbackHook, URL: "http://gate"},
		v1beta1.CanaryWebhook{Name: "smoke", Type: v1beta1.PreRolloutHook, URL: "http://tester"},
	)
	w := initialized(c)
	h := &fakeHooks{results: map[v1beta1.HookType]bool{}}
	d, err := New(w, &fakeRouter{}, &fakeSource{}, h, nil).Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != v1beta1.PhaseWaiting {
		t.Errorf("phase = %s, want Waiting", d.Status.Phase)
	}
	if len(h.called) != 1 || h.called[0] != v1beta1.ConfirmRolloutHook {
		t.Errorf("called %v, want only confirm-rollout", h.called)
	}

	// Open the gate: confirm-rollout, rollback (not asking) and pre-rollout
	// are called in that order and the canary gets its first step.
	h.results[v1beta1.ConfirmRolloutHook], h.results[v1beta1.PreRolloutHook] = true, true
	h.called = nil
	c.Status = d.Status
	d, err = New(w, &fakeRouter{}, &fakeSource{}, h, nil).Tick(context.Background(), c, rollout.NoCommand, false, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := []v1beta1.HookType{v1beta1.ConfirmRolloutHook, v1beta1.RollbackHook, v1beta1.PreRolloutHook}
	if strings.Join(hookNames(h.called), ",") != strings.Join(hookNames(want), ",") {
		t.Errorf("called %v, want %v", h.called, want)
	}
	if d.Status.CanaryWeight != 50 {
		t.Errorf("weight = %d, want 50", d.Status.CanaryWeight)
	}
}

func TestTickActionFailure(t *testing.T) {
	c := newCanary()
	w := initialized(c)
	w.fail = rollout.ScaleCanaryUp
	d, err := New(w, &fakeRouter{}, &fakeSource{}, nil, nil).Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err == nil || !strings.Contains(err.Error(), "ScaleCanaryUp") {
		t.Fatalf("err = %v, want the failing action named", err)
	}
	if d.Status.Phase != "" {
		t.Errorf("a failed tick returned a status to write: %+v", d.Status)
	}
}

func TestTickObserveFailure(t *testing.T) {
	w := &fakeWorkload{obsErr: errors.New("apiserver unavailable")}
	_, err := New(w, &fakeRouter{}, nil, nil, nil).Tick(context.Background(), newCanary(), rollout.NoCommand, false, t0)
	if err == nil || !strings.Contains(err.Error(), "apiserver unavailable") {
		t.Fatalf("err = %v, want the observe error", err)
	}
}

func TestTickReportsFailedPostRolloutHooks(t *testing.T) {
	c := newCanary(v1beta1.CanaryWebhook{Name: "notify", Type: v1beta1.PostRolloutHook, URL: "http://tester"})
	w := initialized(c)
	c.Status.Phase, c.Status.LastAppliedSpec, c.Status.LastPromotedSpec = v1beta1.PhasePromoting, "r2", "r2"
	h := &fakeHooks{results: map[v1beta1.HookType]bool{}}
	n := &fakeNotifier{}
	d, err := New(w, &fakeRouter{}, &fakeSource{}, h, n).Tick(context.Background(), c, rollout.NoCommand, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != v1beta1.PhaseSucceeded {
		t.Fatalf("phase = %s, want Succeeded", d.Status.Phase)
	}
	if !hasEvent(n.events, "post-rollout webhook h-post-rollout failed for podinfo.test: answered") {
		t.Errorf("events = %+v, want the failed post-rollout webhook", n.events)
	}
}

func types(as []rollout.ActionType) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

func hookNames(hs []v1beta1.HookType) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = string(h)
	}
	return out
}

func hasEvent(evs []rollout.Event, msg string) bool {
	for _, e := range evs {
		if e.Message == msg {
			return true
		}
	}
	return false
}
