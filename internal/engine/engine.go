package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/rollout"
)

// Engine runs the ticks of Canaries through its adapters. It keeps no state
// between ticks: everything it needs is in the Canary and its status, so one
// Engine serves any number of Canaries.
type Engine struct {
	workload Workload
	router   Router
	source   Source
	hooks    Hooks    // may be nil: no webhooks are called
	notifier Notifier // may be nil: events are not sent anywhere
}

// New returns an Engine over the adapters; h and n may be nil.
func New(w Workload, r Router, s Source, h Hooks, n Notifier) *Engine {
	return &Engine{workload: w, router: r, source: s, hooks: h, notifier: n}
}

// Tick observes, plans, gathers, steps and carries out the actions for one
// Canary. It returns the Decision whose Status the caller writes once and
// whose Events it records (the Notifier has already been given them).
// When an action fails it returns the error and the caller writes nothing:
// actions are idempotent and the next tick retries them.
func (e *Engine) Tick(ctx context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error) {
	ws, err := e.workload.Observe(ctx, c)
	if err != nil {
		return rollout.Decision{}, fmt.Errorf("observe workloads of canary %s/%s: %w", c.Namespace, c.Name, err)
	}
	needs := rollout.Plan(c, ws, cmd, deleting, now)
	obs := rollout.Observed{Workload: ws, Command: cmd, Deleting: deleting}
	obs.Hooks = e.gates(ctx, c, needs.Hooks)
	if needs.Metrics {
		obs.Metrics = e.metrics(ctx, c, needs.MetricsSince)
	}
	d := rollout.Step(rollout.Input{Canary: c, Observed: obs, Now: now})
	for _, a := range d.Actions {
		ev, err := e.apply(ctx, c, a)
		if err != nil {
			return rollout.Decision{}, fmt.Errorf("canary %s/%s: %s: %w", c.Namespace, c.Name, a.Type, err)
		}
		d.Events = append(d.Events, ev...)
	}
	if e.notifier != nil {
		for _, ev := range d.Events {
			e.notifier.Notify(ctx, c, ev)
		}
	}
	return d, nil
}

// Drain waits, until ctx ends, for the notifier to send what it has
// queued, when it sends in the background (a Drainer).
func (e *Engine) Drain(ctx context.Context) error {
	if d, ok := e.notifier.(Drainer); ok {
		return d.Drain(ctx)
	}
	return nil
}

// gates calls the webhooks of the gates in order and stops after the first
// outcome that ends the tick: a gate that did not pass, or a rollback
// webhook that asks for a rollback.
func (e *Engine) gates(ctx context.Context, c *v1beta1.Canary, types []v1beta1.HookType) []rollout.HookResult {
	var out []rollout.HookResult
	for _, t := range types {
		var rs []rollout.HookResult
		if e.hooks == nil {
			rs = []rollout.HookResult{{Name: string(t), Type: t, Message: "no webhook caller configured"}}
		} else {
			rs = e.hooks.Call(ctx, c, t)
		}
		out = append(out, rs...)
		for _, r := range rs {
			if r.OK == (t == v1beta1.RollbackHook) {
				return out
			}
		}
	}
	return out
}

// metrics queries every metric of the analysis. A failed query is an
// observation with Err set, which the judge turns into a visible Wait.
func (e *Engine) metrics(ctx context.Context, c *v1beta1.Canary, since time.Time) []judge.Observation {
	a := c.Spec.Analysis.Defaulted()
	out := make([]judge.Observation, 0, len(a.Metrics))
	for _, m := range a.Metrics {
		var (
			o   judge.Observation
			err error
		)
		if e.source == nil {
			err = errors.New("no metric source configured")
		} else {
			o, err = e.source.Query(ctx, c, m, since)
		}
		if err != nil {
			o = judge.Observation{Err: err.Error()}
		}
		o.Metric = m.Name
		out = append(out, o)
	}
	return out
}

// apply carries out one action. Webhooks whose outcome Step does not wait
// for (post-rollout, event) report their failures as Warning events.
func (e *Engine) apply(ctx context.Context, c *v1beta1.Canary, a rollout.Action) ([]rollout.Event, error) {
	switch a.Type {
	case rollout.SetRoutes:
		if a.Routes == nil {
			return nil, errors.New("no routes given")
		}
		return nil, e.router.SetRoutes(ctx, c, *a.Routes)
	case rollout.CallHooks:
		if e.hooks == nil {
			return nil, nil
		}
		var evs []rollout.Event
		for _, r := range e.hooks.Call(ctx, c, a.Hook) {
			if !r.OK {
				evs = append(evs, rollout.Event{
					Type: rollout.Warning, Reason: "WebhookFailed",
					Message: fmt.Sprintf("%s webhook %s failed for %s.%s: %s", a.Hook, r.Name, c.Name, c.Namespace, r.Message),
				})
			}
		}
		return evs, nil
	default:
		return nil, e.workload.Apply(ctx, c, a)
	}
}
