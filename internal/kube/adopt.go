package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/serinhq/serin/api/v1beta1"
	workload "github.com/serinhq/serin/internal/workload/kube"
)

// A flagger.app Canary's status has Flagger's schema, which the API server
// prunes to Flagger's fields: serin's own (the timing of the analysis, the
// metrics, the message) are dropped from what it stores. The controller
// keeps the full status it last wrote in memory, with the status as
// stored; while the stored status is still that one, the full one is used.
// Otherwise (after a restart, a change of leader, or a status Flagger
// wrote) serin's fields are derived from Flagger's, and a revision hash
// Flagger wrote is taken over (restoreStatus).

// statusMemo is the status this controller last wrote for a Canary: as it
// wrote it (full) and as the API server stored it (stored).
type statusMemo struct {
	stored, full v1beta1.CanaryStatus
}

func (r *Reconciler) remember(key types.NamespacedName, stored, full v1beta1.CanaryStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.memo == nil {
		r.memo = map[types.NamespacedName]statusMemo{}
	}
	r.memo[key] = statusMemo{stored: *stored.DeepCopy(), full: *full.DeepCopy()}
}

// restoreStatus completes the status of a flagger.app Canary c before its
// tick: from memory when c's status is the one this controller last
// stored, else by deriving serin's fields from Flagger's and taking over a
// revision hash of Flagger's (see adoptRevision). It changes nothing for
// serin.dev Canaries, whose status is stored whole.
func (r *Reconciler) restoreStatus(ctx context.Context, c *v1beta1.Canary, now time.Time) error {
	if !r.flagger() {
		return nil
	}
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	r.mu.Lock()
	m, ok := r.memo[key]
	r.mu.Unlock()
	if ok && equality.Semantic.DeepEqual(m.stored, c.Status) {
		c.Status = *m.full.DeepCopy()
		return nil
	}
	deriveTimes(&c.Status, now)
	return r.adoptRevision(ctx, c)
}

// deriveTimes fills in serin's timing of a release in progress from
// Flagger's lastTransitionTime, which Flagger sets at every change of phase,
// weight or iteration: the analysis is taken to have run its last step and
// check then, so the next check is due one interval after it and the
// weight moves on from where it is. Fields already set are kept.
func deriveTimes(st *v1beta1.CanaryStatus, now time.Time) {
	switch st.Phase {
	case v1beta1.PhaseProgressing, v1beta1.PhaseWaitingPromotion, v1beta1.PhasePromoting, v1beta1.PhaseFinalising:
	default:
		return
	}
	t := st.LastTransitionTime
	if t.IsZero() {
		t = metav1.NewTime(now)
	}
	set := func(p **metav1.Time) {
		if *p == nil {
			*p = t.DeepCopy()
		}
	}
	set(&st.AnalysisStartTime)
	set(&st.ProgressTime)
	if st.Phase != v1beta1.PhaseProgressing || st.CanaryWeight > 0 || st.Iterations > 0 {
		set(&st.LastStepTime)
		set(&st.LastCheckTime)
	}
}

// adoptRevision takes over the revision hashes of a status Flagger wrote.
// Flagger hashes the target's pod template its own way (a short hash, not
// serin's 16 hex digits) and serin cannot recompute it, so a
// lastAppliedSpec that is not serin's is taken to be the target as it is
// now: Flagger's controller was stopped and serin's started without the
// target changing in between, as docs/flagger.md asks. lastPromotedSpec,
// when it was the same hash (an Initialized or Succeeded Canary), becomes
// the same revision, so nothing is released again; a different one (a
// release in progress, or a Failed one) is kept as Flagger's, so a target
// put back to the primary's template is taken for a new revision rather
// than recognised.
func (r *Reconciler) adoptRevision(ctx context.Context, c *v1beta1.Canary) error {
	st := &c.Status
	if st.LastAppliedSpec == "" || workload.IsRevision(st.LastAppliedSpec) || r.Revision == nil {
		return nil
	}
	rev, err := r.Revision(ctx, c)
	if err != nil {
		return fmt.Errorf("revision of the target of canary %s/%s: %w", c.Namespace, c.Name, err)
	}
	if rev == "" {
		return nil // no target: the engine says so
	}
	flaggers := st.LastAppliedSpec
	if st.LastPromotedSpec == flaggers {
		st.LastPromotedSpec = rev
	}
	st.LastAppliedSpec = rev
	r.Recorder.Event(r.object(c), corev1.EventTypeNormal, "Adopted", fmt.Sprintf(
		"Took over %s.%s from Flagger's status (%s, canary weight %d): revision %s of %s is Flagger's %s",
		c.Name, c.Namespace, orNone(string(st.Phase)), st.CanaryWeight, rev, c.Spec.TargetRef.Name, flaggers))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no phase"
	}
	return s
}
