package engine

import (
	"context"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/rollout"
)

// Workload observes and changes the target and primary workloads of a
// Canary: local processes or Kubernetes Deployments.
type Workload interface {
	// Observe reads the target's and the primary's state.
	Observe(ctx context.Context, c *v1beta1.Canary) (rollout.WorkloadState, error)
	// Apply carries out one workload action (InitPrimary, ScaleCanaryUp,
	// ScaleCanaryDown, PromotePrimary, RestoreTarget). It is idempotent.
	Apply(ctx context.Context, c *v1beta1.Canary, a rollout.Action) error
}

// Router sets a Canary's traffic split: serin's proxy, an SMI
// TrafficSplit or a Gateway API HTTPRoute.
type Router interface {
	// SetRoutes makes the routes match r. It is idempotent.
	SetRoutes(ctx context.Context, c *v1beta1.Canary, r rollout.Routes) error
}

// Source reads a metric of a Canary's analysis.
type Source interface {
	// Query returns the metric for the canary over the metric's interval
	// and, where the source can, cumulative counts for the canary and the
	// primary since since. "No data" is an Observation with HasValue false;
	// a failure to query is an error.
	Query(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, since time.Time) (judge.Observation, error)
}

// Hooks calls a Canary's webhooks.
type Hooks interface {
	// Call calls the webhooks of one gate and reports each outcome.
	Call(ctx context.Context, c *v1beta1.Canary, t v1beta1.HookType) []rollout.HookResult
}

// Notifier sends a Canary's events to its alert providers.
type Notifier interface {
	Notify(ctx context.Context, c *v1beta1.Canary, e rollout.Event)
}

// Drainer is a Notifier that sends in the background: Drain waits, until
// ctx ends, for what it has queued, and says what was left. A runtime
// that stops drains its notifier, so that its last decisions are told.
type Drainer interface {
	Drain(ctx context.Context) error
}
