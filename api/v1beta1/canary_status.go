package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CanaryPhase is where a Canary is in its release lifecycle.
type CanaryPhase string

// The phases, as Flagger's.
const (
	// PhaseInitializing: the primary is being created from the target.
	PhaseInitializing CanaryPhase = "Initializing"
	// PhaseInitialized: the primary serves all traffic; the target is scaled
	// to zero and serin waits for a new revision.
	PhaseInitialized CanaryPhase = "Initialized"
	// PhaseWaiting: a new revision waits for a confirm-rollout gate.
	PhaseWaiting CanaryPhase = "Waiting"
	// PhaseProgressing: the analysis of a new revision is running.
	PhaseProgressing CanaryPhase = "Progressing"
	// PhaseWaitingPromotion: the analysis passed; a confirm-promotion gate
	// holds the promotion.
	PhaseWaitingPromotion CanaryPhase = "WaitingPromotion"
	// PhasePromoting: the canary's spec is being copied to the primary.
	PhasePromoting CanaryPhase = "Promoting"
	// PhaseFinalising: traffic returns to the promoted primary and the
	// canary is scaled to zero.
	PhaseFinalising CanaryPhase = "Finalising"
	// PhaseSucceeded: the last release was promoted.
	PhaseSucceeded CanaryPhase = "Succeeded"
	// PhaseFailed: the last release was rolled back.
	PhaseFailed CanaryPhase = "Failed"
	// PhaseTerminating: the Canary is being deleted and the target restored.
	PhaseTerminating CanaryPhase = "Terminating"
	// PhaseTerminated: the target is restored; the Canary can go.
	PhaseTerminated CanaryPhase = "Terminated"
)

// CanaryStatus is what serin observed and decided about a Canary. Flagger's
// fields keep their names; the rest are serin's.
type CanaryStatus struct {
	// +optional
	Phase CanaryPhase `json:"phase,omitempty"`
	// FailedChecks counts failed metric checks and gates of this analysis.
	// +optional
	FailedChecks int `json:"failedChecks"`
	// CanaryWeight is the canary's share of traffic in percent.
	// +optional
	CanaryWeight int `json:"canaryWeight"`
	// Iterations done of a blue/green or A/B analysis.
	// +optional
	Iterations int `json:"iterations"`
	// +optional
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`
	// +optional
	SessionAffinityCookie string `json:"sessionAffinityCookie,omitempty"`
	// PrimarySessionAffinityCookie is Flagger's status field of the same
	// name, kept so that a Flagger status reads back unchanged.
	// +optional
	PrimarySessionAffinityCookie string `json:"primarySessionAffinityCookie,omitempty"`
	// TrackedConfigs maps tracked ConfigMaps and Secrets to their hashes.
	// +optional
	TrackedConfigs map[string]string `json:"trackedConfigs,omitempty"`
	// LastAppliedSpec is the revision (hash) under analysis or last seen.
	// +optional
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`
	// LastPromotedSpec is the revision (hash) the primary runs.
	// +optional
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`
	// LastTrackedRevision is Flagger's status field of the same name, kept
	// so that a Flagger status reads back unchanged.
	// +optional
	LastTrackedRevision string `json:"lastTrackedRevision,omitempty"`
	// LastTransitionTime is when the phase or weight last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Conditions; "Promoted" says whether the last release was promoted.
	// +optional
	Conditions []CanaryCondition `json:"conditions,omitempty"`

	// ObservedGeneration is the Canary generation this status is for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// AnalysisStartTime is when the analysis of the current revision began.
	// +optional
	AnalysisStartTime *metav1.Time `json:"analysisStartTime,omitempty"`
	// LastStepTime is when traffic last moved (or the last iteration ran).
	// +optional
	LastStepTime *metav1.Time `json:"lastStepTime,omitempty"`
	// ProgressTime is when the release last made progress; the progress
	// deadline runs from it.
	// +optional
	ProgressTime *metav1.Time `json:"progressTime,omitempty"`
	// LastCheckTime is when the analysis last ran its checks (metrics and
	// rollout webhooks) at a step, passed or not; the next check is due one
	// interval later.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
	// Metrics are the last values of the analysis's metrics and why they
	// passed or failed.
	// +optional
	Metrics []MetricStatus `json:"metrics,omitempty"`
	// Message says why the last decision was taken.
	// +optional
	Message string `json:"message,omitempty"`
}

// MetricStatus is the last evaluation of one metric.
type MetricStatus struct {
	Name string `json:"name"`
	// Verdict is "pass", "fail" or "wait".
	Verdict string `json:"verdict"`
	// Value of the canary, when there is one.
	// +optional
	Value *float64 `json:"value,omitempty"`
	// Primary value, when the judge compares against it.
	// +optional
	Primary *float64 `json:"primary,omitempty"`
	// Samples behind the canary's value (requests).
	// +optional
	Samples int64 `json:"samples,omitempty"`
	// Reason in words, e.g. "97.2% < 99% (n=412)".
	// +optional
	Reason string `json:"reason,omitempty"`
}

// CanaryConditionType is the type of a Canary condition.
type CanaryConditionType string

// PromotedCondition says whether the last release was promoted.
const PromotedCondition CanaryConditionType = "Promoted"

// CanaryCondition is a condition of a Canary.
type CanaryCondition struct {
	Type   CanaryConditionType    `json:"type"`
	Status metav1.ConditionStatus `json:"status"`
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
