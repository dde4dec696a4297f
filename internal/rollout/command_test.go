package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// TestEveryCommandIsAnswered gives each manual command to a Canary in each
// phase and checks that it is either carried out or answered with an
// event saying why not: a command is never dropped in silence.
func TestEveryCommandIsAnswered(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	ready := Readiness{Desired: 1, Updated: 1, Ready: 1}
	stamp := metav1.NewTime(now.Add(-5 * time.Second))
	paused := v1beta1.CanaryCondition{Type: PausedCondition, Status: metav1.ConditionTrue, Reason: "Paused", LastTransitionTime: stamp}
	type state struct {
		status v1beta1.CanaryStatus
		rev    string
		hooks  []HookResult
	}
	released := func(phase v1beta1.CanaryPhase) v1beta1.CanaryStatus {
		return v1beta1.CanaryStatus{
			Phase: phase, CanaryWeight: 20, LastAppliedSpec: "rev2", LastPromotedSpec: "rev1",
			AnalysisStartTime: &stamp, LastStepTime: &stamp, LastCheckTime: &stamp, ProgressTime: &stamp,
		}
	}
	states := map[string]state{
		"Initializing": {status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseInitializing}, rev: "rev1"},
		"Initialized":  {status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseInitialized, LastAppliedSpec: "rev1", LastPromotedSpec: "rev1"}, rev: "rev1"},
		"Waiting": {status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseWaiting, LastAppliedSpec: "rev1", LastPromotedSpec: "rev1"}, rev: "rev2",
			hooks: []HookResult{{Name: "approve", Type: v1beta1.ConfirmRolloutHook, Message: "403"}}},
		"Progressing": {status: released(v1beta1.PhaseProgressing), rev: "rev2"},
		"Progressing, paused": {status: func() v1beta1.CanaryStatus {
			st := released(v1beta1.PhaseProgressing)
			st.Conditions = []v1beta1.CanaryCondition{paused}
			return st
		}(), rev: "rev2"},
		"WaitingPromotion": {status: released(v1beta1.PhaseWaitingPromotion), rev: "rev2"},
		"Promoting":        {status: released(v1beta1.PhasePromoting), rev: "rev2"},
		"Finalising":       {status: released(v1beta1.PhaseFinalising), rev: "rev2"},
		"Succeeded":        {status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseSucceeded, LastAppliedSpec: "rev2", LastPromotedSpec: "rev2"}, rev: "rev2"},
		"Failed":           {status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseFailed, LastAppliedSpec: "rev2", LastPromotedSpec: "rev1"}, rev: "rev2"},
	}
	// What each command does where it is carried out.
	carriedOut := map[Command]func(d Decision) bool{
		Promote: func(d Decision) bool { return hasAction(d, PromotePrimary) },
		Abort:   func(d Decision) bool { return d.Status.Phase == v1beta1.PhaseFailed },
		Pause:   func(d Decision) bool { return hasCondition(d.Status, PausedCondition) },
		Resume:  func(d Decision) bool { return !hasCondition(d.Status, PausedCondition) },
		Retry: func(d Decision) bool {
			return d.Status.Phase == v1beta1.PhaseProgressing && hasAction(d, ScaleCanaryUp)
		},
	}
	for name, st := range states {
		for _, cmd := range Commands() {
			t.Run(name+"/"+string(cmd), func(t *testing.T) {
				c := commandCanary()
				c.Status = st.status
				obs := Observed{
					Command: cmd, Hooks: st.hooks,
					Workload: WorkloadState{TargetFound: true, PrimaryFound: true, TargetRevision: st.rev, Target: ready, Primary: ready},
					Metrics:  []judge.Observation{{Metric: judge.RequestSuccessRate, HasValue: true, Value: 100, Samples: 100}},
				}
				d := Step(Input{Canary: c, Observed: obs, Now: now})
				var answered, ignored bool
				for _, e := range d.Events {
					answered = answered || strings.Contains(e.Message, "by command")
					ignored = ignored || strings.HasPrefix(e.Message, "Command "+string(cmd)+" ignored: ")
				}
				carried := answered && carriedOut[cmd](d)
				switch {
				case carried && ignored:
					t.Errorf("both carried out and ignored: phase %s, events %v", d.Status.Phase, d.Events)
				case ignored:
					t.Logf("ignored: %v", d.Events)
				case carried:
					t.Logf("carried out: phase %s, %v", d.Status.Phase, d.Events)
				default:
					t.Errorf("neither carried out nor answered: phase %s, actions %v, events %v", d.Status.Phase, d.Actions, d.Events)
				}
			})
		}
	}
}

// TestCommandsWhereTheyApply pins down where each command is carried out.
func TestCommandsWhereTheyApply(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	ready := Readiness{Desired: 1, Updated: 1, Ready: 1}
	stamp := metav1.NewTime(now.Add(-5 * time.Second))
	step := func(st v1beta1.CanaryStatus, rev string, cmd Command) Decision {
		c := commandCanary()
		c.Status = st
		return Step(Input{Canary: c, Now: now, Observed: Observed{Command: cmd,
			Workload: WorkloadState{TargetFound: true, PrimaryFound: true, TargetRevision: rev, Target: ready, Primary: ready}}})
	}
	progressing := v1beta1.CanaryStatus{
		Phase: v1beta1.PhaseProgressing, CanaryWeight: 30, LastAppliedSpec: "rev2", LastPromotedSpec: "rev1",
		AnalysisStartTime: &stamp, LastStepTime: &stamp, LastCheckTime: &stamp, ProgressTime: &stamp,
		Conditions: []v1beta1.CanaryCondition{{Type: PausedCondition, Status: metav1.ConditionTrue, Reason: "Paused", LastTransitionTime: stamp}},
	}
	// Promote while paused promotes: a person's promote ends the pause.
	if d := step(progressing, "rev2", Promote); !hasAction(d, PromotePrimary) || hasCondition(d.Status, PausedCondition) {
		t.Errorf("promote while paused: actions %v, conditions %v; want a promotion and no pause", d.Actions, d.Status.Conditions)
	}
	// Retry of a Failed release starts its analysis again at weight 0.
	failed := v1beta1.CanaryStatus{Phase: v1beta1.PhaseFailed, FailedChecks: 5, LastAppliedSpec: "rev2", LastPromotedSpec: "rev1"}
	d := step(failed, "rev2", Retry)
	if d.Status.Phase != v1beta1.PhaseProgressing || d.Status.FailedChecks != 0 || !hasAction(d, ScaleCanaryUp) {
		t.Errorf("retry: phase %s, failed checks %d, actions %v; want Progressing from 0 with the canary scaled up",
			d.Status.Phase, d.Status.FailedChecks, d.Actions)
	}
	// Abort while waiting for approval ends the release of that revision.
	waiting := v1beta1.CanaryStatus{Phase: v1beta1.PhaseWaiting, LastAppliedSpec: "rev1", LastPromotedSpec: "rev1"}
	if d := step(waiting, "rev2", Abort); d.Status.Phase != v1beta1.PhaseFailed || d.Status.LastAppliedSpec != "rev2" {
		t.Errorf("abort while waiting: phase %s, last applied %q; want Failed at rev2", d.Status.Phase, d.Status.LastAppliedSpec)
	}
}

func commandCanary() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50,
				Metrics:  []v1beta1.CanaryMetric{{Name: judge.RequestSuccessRate, ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptrTo(99.0)}}},
				Webhooks: []v1beta1.CanaryWebhook{{Name: "approve", Type: v1beta1.ConfirmRolloutHook, URL: "http://gate/"}},
			},
		},
	}
}

func hasAction(d Decision, t ActionType) bool {
	for _, a := range d.Actions {
		if a.Type == t {
			return true
		}
	}
	return false
}

func hasCondition(st v1beta1.CanaryStatus, typ v1beta1.CanaryConditionType) bool {
	for _, c := range st.Conditions {
		if c.Type == typ && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }
