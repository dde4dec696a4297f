package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
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
