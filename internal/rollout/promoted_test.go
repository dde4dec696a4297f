package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

// TestSyncPromoted checks the Promoted condition follows the phase as
// Flagger's does, keeps a message the tick set itself, and is left alone
// while the phase stays.
func TestSyncPromoted(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	progressing := v1beta1.CanaryCondition{Type: v1beta1.PromotedCondition, Status: metav1.ConditionUnknown, Reason: "Progressing",
		Message: "New revision detected, progressing canary analysis.", LastUpdateTime: earlier, LastTransitionTime: earlier}
	for _, tc := range []struct {
		name       string
		from, to   v1beta1.CanaryPhase
		setByTick  *v1beta1.CanaryCondition
		wantStatus metav1.ConditionStatus
		wantReason string
		wantMsg    string
	}{
		{"promoting", v1beta1.PhaseProgressing, v1beta1.PhasePromoting, nil, metav1.ConditionUnknown, "Promoting", "Canary analysis completed, starting primary rolling update."},
		{"finalising", v1beta1.PhasePromoting, v1beta1.PhaseFinalising, nil, metav1.ConditionUnknown, "Finalising", "Canary analysis completed, routing all traffic to primary."},
		{"waiting for promotion", v1beta1.PhaseProgressing, v1beta1.PhaseWaitingPromotion, nil, metav1.ConditionUnknown, "WaitingPromotion", "Waiting for approval."},
		{"initialized", v1beta1.PhaseInitializing, v1beta1.PhaseInitialized, nil, metav1.ConditionTrue, "Initialized", "Deployment initialization completed."},
		{"failed by the tick", v1beta1.PhaseProgressing, v1beta1.PhaseFailed,
			&v1beta1.CanaryCondition{Type: v1beta1.PromotedCondition, Status: metav1.ConditionFalse, Reason: "Failed", Message: "aborted", LastUpdateTime: metav1.NewTime(now)},
			metav1.ConditionFalse, "Failed", "aborted"},
		{"phase unchanged", v1beta1.PhaseProgressing, v1beta1.PhaseProgressing, nil, metav1.ConditionUnknown, "Progressing", progressing.Message},
	} {
		st := v1beta1.CanaryStatus{Phase: tc.to, Conditions: []v1beta1.CanaryCondition{progressing}}
		if tc.setByTick != nil {
			st.Conditions = []v1beta1.CanaryCondition{*tc.setByTick}
		}
		m := &machine{c: &v1beta1.Canary{Status: v1beta1.CanaryStatus{Phase: tc.from}}, now: now, st: st}
		m.syncPromoted()
		if len(m.st.Conditions) != 1 {
			t.Fatalf("%s: conditions %+v, want one", tc.name, m.st.Conditions)
		}
		c := m.st.Conditions[0]
		if c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.Message != tc.wantMsg {
			t.Errorf("%s: Promoted %s %s %q, want %s %s %q", tc.name, c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.wantMsg)
		}
	}
}
