package rollout

import (
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// Input is everything Step needs for one tick of one Canary.
type Input struct {
	// Canary holds the spec, metadata and the last status. Step does not
	// modify it.
	Canary *v1beta1.Canary
	// Observed is what the shell observed this tick.
	Observed Observed
	// Now is the time of the tick.
	Now time.Time
}

// Observed is what the shell gathered for this tick. Metrics and Hooks hold
// only what Plan asked for.
type Observed struct {
	Workload WorkloadState
	// Metrics has one observation per analysis metric, in spec order, when
	// Plan asked for metrics; nil otherwise.
	Metrics []judge.Observation
	// Hooks are the results of the gates Plan asked for, in order.
	Hooks []HookResult
	// Command is a manual command given since the last tick, if any.
	Command Command
	// Deleting is true when the Canary is being deleted.
	Deleting bool
}

// WorkloadState is the observed state of the target (the canary) and the
// primary workload.
type WorkloadState struct {
	// TargetFound is false when the target workload does not exist.
	TargetFound bool
	// TargetRevision is the hash of the target's pod template plus the data
	// of the ConfigMaps and Secrets it references.
	TargetRevision string
	// Target is the readiness of the target's (canary's) pods.
	Target Readiness
	// PrimaryFound is false before the primary is created.
	PrimaryFound bool
	// Primary is the readiness of the primary's pods.
	Primary Readiness
	// TrackedConfigs maps the referenced ConfigMaps and Secrets to hashes.
	TrackedConfigs map[string]string
}

// Readiness of one workload's pods.
type Readiness struct {
	// Desired and Ready replicas; Updated counts replicas of the newest
	// template.
	Desired int32
	Updated int32
	Ready   int32
	// Reason says why pods are not ready, when the runtime knows (e.g.
	// "exec: \"podinfo\": executable file not found in $PATH").
	Reason string
}

// Command is a manual command: promote, abort, pause, resume or retry.
// Every command is either carried out, with an event saying so, or
// answered with an event saying why not.
type Command string

// The manual commands.
const (
	NoCommand Command = ""
	// Promote skips the rest of the analysis and promotes now.
	Promote Command = "promote"
	// Abort rolls the release back now.
	Abort Command = "abort"
	// Pause holds the release at its current weight.
	Pause Command = "pause"
	// Resume continues a paused release.
	Resume Command = "resume"
	// Retry runs the analysis of a Failed release's revision again.
	Retry Command = "retry"
)

// Commands are the manual commands, in the order the CLI lists them.
func Commands() []Command { return []Command{Promote, Abort, Pause, Resume, Retry} }

// Valid says whether c is one of the manual commands.
func (c Command) Valid() bool {
	for _, k := range Commands() {
		if c == k {
			return true
		}
	}
	return false
}

// HookResult is the outcome of calling the webhooks of one gate.
type HookResult struct {
	Name string
	Type v1beta1.HookType
	// OK is true when the webhook answered 200-202.
	OK bool
	// Message says what went wrong, or what the webhook answered.
	Message string
}

// Needs says what the shell must gather before calling Step.
type Needs struct {
	// Metrics asks for the analysis metrics to be queried.
	Metrics bool
	// MetricsSince is when the span of cumulative counts begins (the start
	// of the analysis of the current revision).
	MetricsSince time.Time
	// Hooks lists the gates whose webhooks must be called, in order.
	Hooks []v1beta1.HookType
}

// ActionType names an action for the shell to carry out.
type ActionType string

// The actions. Every action is idempotent.
const (
	// InitPrimary creates the primary from the target's template (with
	// copies of tracked configs) and the apex, primary and canary Services,
	// or brings them up to date.
	InitPrimary ActionType = "InitPrimary"
	// ScaleCanaryUp scales the target to the primary's replica count (or
	// the autoscaler's minimum).
	ScaleCanaryUp ActionType = "ScaleCanaryUp"
	// ScaleCanaryDown scales the target to zero.
	ScaleCanaryDown ActionType = "ScaleCanaryDown"
	// PromotePrimary copies the target's template and tracked configs to the
	// primary.
	PromotePrimary ActionType = "PromotePrimary"
	// SetRoutes makes the routes match Routes.
	SetRoutes ActionType = "SetRoutes"
	// RestoreTarget undoes serin's changes when a Canary with
	// revertOnDeletion is deleted: target scaled back up, all traffic to it.
	RestoreTarget ActionType = "RestoreTarget"
	// CallHooks calls the webhooks of Hook whose outcome Step does not wait
	// for (post-rollout). Event webhooks are not actions: they receive
	// every event, with its message, through the engine's Notifier.
	CallHooks ActionType = "CallHooks"
)

// Action is one thing for the shell to do.
type Action struct {
	Type ActionType
	// Routes, for SetRoutes.
	Routes *Routes `json:",omitempty"`
	// Hook, for CallHooks.
	Hook v1beta1.HookType `json:",omitempty"`
}

// Routes is the desired traffic split.
type Routes struct {
	// PrimaryWeight + CanaryWeight = 100.
	PrimaryWeight int
	CanaryWeight  int
	// Mirror copies MirrorWeight percent of the primary's traffic to the
	// canary (responses discarded).
	Mirror       bool `json:",omitempty"`
	MirrorWeight int  `json:",omitempty"`
	// Match sends matching requests to the canary (A/B testing).
	Match []v1beta1.HTTPMatchRequest `json:",omitempty"`
	// SessionAffinity pins clients that got the canary with a cookie;
	// Cookie is the cookie's current value ("name=value").
	SessionAffinity *v1beta1.SessionAffinity `json:",omitempty"`
	Cookie          string                   `json:",omitempty"`
}

// EventType is Normal or Warning, as Kubernetes events.
type EventType string

// The event types.
const (
	Normal  EventType = "Normal"
	Warning EventType = "Warning"
)

// Event is something a person should see: what happened and why, with the
// numbers that led to it.
type Event struct {
	Type EventType
	// Reason is one CamelCase word: Synced, Progressing, Promoted, ...
	Reason string
	// Message is a sentence with the numbers, e.g. "Advance podinfo.test
	// canary weight 20: request-success-rate 99.8% >= 99% (n=412)".
	Message string
	// Alert is the level at which the event goes to the Canary's alert
	// providers; NoAlert for the events that are only recorded.
	Alert Alert `json:",omitempty"`
}

// Alert is the level of an event that goes to alert providers. As in
// Flagger, a release alerts when it starts (initialization done, a new
// revision), when it waits for a person's approval, and when it ends
// (promoted, rolled back): one message each, however many steps, checks
// and events lie between.
type Alert int

// The alert levels, lowest first.
const (
	NoAlert Alert = iota
	AlertInfo
	AlertWarn
	AlertError
)

// String returns "info", "warn" or "error" ("" for NoAlert), as an
// alert's severity is written.
func (a Alert) String() string {
	switch a {
	case AlertInfo:
		return "info"
	case AlertWarn:
		return "warn"
	case AlertError:
		return "error"
	}
	return ""
}

// Decision is what Step decided.
type Decision struct {
	// Status is the new status, to be written once.
	Status v1beta1.CanaryStatus
	// Actions to carry out, in order, before writing Status.
	Actions []Action
	// Events to record; those with an Alert go to alert providers too.
	Events []Event
	// Results of the judge for each metric this tick.
	Results []judge.Result
	// RequeueAfter is when the next tick is due.
	RequeueAfter time.Duration
}
