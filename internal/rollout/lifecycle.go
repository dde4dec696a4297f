package rollout

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

func (m *machine) run() {
	w := m.obs.Workload
	switch {
	case m.obs.Deleting:
		m.ignoreCommand("%s is being deleted", m.s.target)
		m.terminate()
	case m.s.suspend:
		m.ignoreCommand("%s is suspended (spec.suspend)", m.s.target)
		m.say(Normal, "Suspended", "Suspended %s: spec.suspend is set; nothing changes until it is cleared", m.s.target)
		m.requeue = m.s.interval
	case !w.TargetFound:
		m.ignoreCommand("target %s not found", m.s.target)
		m.say(Warning, "TargetNotFound", "Target %s not found", m.s.target)
		m.requeue = m.s.interval
	case m.st.Phase == "" || m.st.Phase == v1beta1.PhaseInitializing ||
		m.st.Phase == v1beta1.PhaseTerminating || m.st.Phase == v1beta1.PhaseTerminated || !w.PrimaryFound:
		m.ignoreCommand("%s is not initialized yet", m.s.target)
		m.initialize()
	default:
		m.release()
	}
}

// ignoreCommand answers the tick's command, if any, with an event saying
// why it is not carried out.
func (m *machine) ignoreCommand(format string, args ...any) {
	if cmd := m.obs.Command; cmd != NoCommand {
		m.event(Normal, "CommandIgnored", "Command %s ignored: %s", cmd, fmt.Sprintf(format, args...))
	}
}

// initialize creates the primary and, once it is ready, routes all traffic
// to it and scales the target to zero.
func (m *machine) initialize() {
	w := m.obs.Workload
	if m.st.Phase != v1beta1.PhaseInitializing || !w.PrimaryFound || !ready(w.Primary, m.s.primaryReady) {
		m.act(Action{Type: InitPrimary})
		if m.st.Phase != v1beta1.PhaseInitializing {
			m.st = v1beta1.CanaryStatus{Conditions: m.st.Conditions}
		}
		m.setPhase(v1beta1.PhaseInitializing)
		if w.PrimaryFound {
			m.say(Normal, "Initializing", "Initializing %s: waiting for %s: %s", m.s.target, m.s.primary, describe(w.Primary))
		} else {
			m.say(Normal, "Initializing", "Initializing %s: creating %s", m.s.target, m.s.primary)
		}
		m.requeue = m.s.poll
		return
	}
	m.setRoutes(Routes{PrimaryWeight: 100})
	m.act(Action{Type: ScaleCanaryDown})
	m.setPhase(v1beta1.PhaseInitialized)
	m.st.LastAppliedSpec = w.TargetRevision
	m.st.LastPromotedSpec = w.TargetRevision
	m.st.TrackedConfigs = w.TrackedConfigs
	m.st.FailedChecks, m.st.Iterations = 0, 0
	m.sayAlert(AlertInfo, Normal, "Initialized", "Initialization done! %s", m.s.target)
	m.requeue = m.s.interval
}

// release handles every phase after initialization.
func (m *machine) release() {
	rev := m.obs.Workload.TargetRevision
	phase := m.st.Phase
	inRelease := phase == v1beta1.PhaseProgressing || phase == v1beta1.PhaseWaitingPromotion ||
		phase == v1beta1.PhasePromoting || phase == v1beta1.PhaseFinalising

	if inRelease && rev != m.st.LastAppliedSpec {
		if rev == m.st.LastPromotedSpec {
			m.cancel()
			return
		}
		m.event(Normal, "NewRevision", "New revision detected! Restarting analysis for %s (revision %s, was %s)", m.s.target, rev, m.st.LastAppliedSpec)
		m.setRoutes(Routes{PrimaryWeight: 100})
		m.start(true)
		return
	}
	switch phase {
	case v1beta1.PhaseProgressing, v1beta1.PhaseWaitingPromotion:
		m.progress()
	case v1beta1.PhasePromoting:
		m.ignoreCommand("%s is being promoted", m.s.target)
		m.promoting()
	case v1beta1.PhaseFinalising:
		m.ignoreCommand("%s is being promoted", m.s.target)
		m.finalise()
	default: // Initialized, Waiting, Succeeded, Failed
		switch {
		case rev == m.st.LastAppliedSpec && phase != v1beta1.PhaseWaiting:
			m.idle()
		case rev == m.st.LastPromotedSpec:
			m.st.LastAppliedSpec = rev
			if phase == v1beta1.PhaseWaiting {
				m.setPhase(v1beta1.PhaseInitialized)
			}
			m.act(Action{Type: ScaleCanaryDown})
			m.say(Normal, "Synced", "%s is back at the promoted revision %s: no release needed", m.s.target, rev)
			m.requeue = m.s.interval
		default:
			m.start(false)
		}
	}
}

// idle waits for a new revision, or a retry of the failed one.
func (m *machine) idle() {
	if m.st.Message == "" {
		m.st.Message = fmt.Sprintf("%s runs revision %s", m.s.primary, m.st.LastPromotedSpec)
	}
	switch cmd := m.obs.Command; {
	case cmd == Retry && m.st.Phase == v1beta1.PhaseFailed:
		m.event(Normal, "Retry", "Retrying the analysis of %s revision %s by command", m.s.target, m.st.LastAppliedSpec)
		m.obs.Command = NoCommand // carried out
		m.start(true)
		return
	case cmd == Retry:
		m.ignoreCommand("only a Failed release can be retried; %s is %s", m.s.target, m.st.Phase)
	case cmd != NoCommand:
		m.ignoreCommand("no release of %s in progress", m.s.target)
	}
	m.requeue = m.s.interval
}

// cancel ends a release whose target went back to the promoted revision.
func (m *machine) cancel() {
	rev := m.obs.Workload.TargetRevision
	m.setRoutes(Routes{PrimaryWeight: 100})
	m.act(Action{Type: ScaleCanaryDown})
	m.st.LastAppliedSpec = rev
	m.st.Iterations = 0
	m.removeCondition(PausedCondition)
	m.setPhase(v1beta1.PhaseInitialized)
	m.say(Normal, "Synced", "%s is back at the promoted revision %s: release cancelled, all traffic to %s", m.s.target, rev, m.s.primary)
	m.requeue = m.s.interval
}

// start begins the release of a new revision, through the confirm-rollout
// gate, and carries on as far as the observations allow.
func (m *machine) start(restart bool) {
	rev := m.obs.Workload.TargetRevision
	if !restart {
		if m.obs.Command == Abort {
			// Nothing to roll back: the canary has no traffic yet.
			m.st.LastAppliedSpec = rev
			m.setPhase(v1beta1.PhaseFailed)
			m.setCondition(v1beta1.PromotedCondition, metav1.ConditionFalse, "Failed", "Canary release aborted before its analysis started.")
			m.sayAlert(AlertError, Warning, "Failed", "Release of %s revision %s aborted by command before its analysis started", m.s.target, rev)
			m.requeue = m.s.interval
			return
		}
		if g := m.hooks(v1beta1.ConfirmRolloutHook); !g.ok {
			m.ignoreCommand("%s revision %s is waiting for approval (%s)", m.s.target, rev, g.why)
			m.setPhase(v1beta1.PhaseWaiting)
			m.sayAlert(m.waitAlert(g, v1beta1.PhaseWaiting), Normal, "Waiting", "Waiting for approval of %s revision %s: %s", m.s.target, rev, g.why)
			m.requeue = m.s.interval
			return
		}
		m.events = append(m.events, Event{Type: Normal, Reason: "NewRevision", Alert: AlertInfo,
			Message: fmt.Sprintf("New revision detected! Scaling up %s (revision %s)", m.s.target, rev)})
	}
	m.st.FailedChecks, m.st.Iterations, m.st.CanaryWeight = 0, 0, 0
	m.st.LastAppliedSpec = rev
	m.st.TrackedConfigs = m.obs.Workload.TrackedConfigs
	m.st.AnalysisStartTime, m.st.ProgressTime = m.stamp(), m.stamp()
	m.st.LastStepTime, m.st.LastCheckTime = nil, nil
	m.st.Metrics = nil
	m.removeCondition(PausedCondition)
	m.setCondition(v1beta1.PromotedCondition, metav1.ConditionUnknown, "Progressing", "New revision detected, progressing canary analysis.")
	m.setPhase(v1beta1.PhaseProgressing)
	m.act(Action{Type: ScaleCanaryUp})
	m.progress()
}

// progress runs the analysis: readiness, gates, checks and steps.
func (m *machine) progress() {
	w := m.obs.Workload
	switch m.obs.Command {
	case Abort:
		m.rollback("aborted by command")
		return
	case Pause:
		m.setCondition(PausedCondition, metav1.ConditionTrue, "Paused", "paused by command")
		m.say(Normal, "Paused", "Paused %s at canary weight %d by command", m.s.target, m.st.CanaryWeight)
		m.requeue = m.s.interval
		return
	case Resume:
		if m.paused() {
			m.removeCondition(PausedCondition)
			m.st.ProgressTime = m.stamp()
			m.event(Normal, "Resumed", "Resumed %s at canary weight %d by command", m.s.target, m.st.CanaryWeight)
		} else {
			m.ignoreCommand("%s is not paused", m.s.target)
		}
	case Retry:
		m.ignoreCommand("the release of %s is in progress; only a Failed release can be retried", m.s.target)
	case Promote:
		// A person's promote ends a pause too.
		m.removeCondition(PausedCondition)
	}
	if m.paused() {
		m.say(Normal, "Paused", "Paused %s at canary weight %d by command", m.s.target, m.st.CanaryWeight)
		m.requeue = m.s.interval
		return
	}
	if g := m.hooks(v1beta1.RollbackHook); g.ok {
		m.rollback("on request of the " + g.why)
		return
	}
	if m.obs.Command == Promote {
		m.promote("promoted by command", true)
		return
	}
	if !ready(w.Primary, m.s.primaryReady) {
		m.say(Normal, "Progressing", "Waiting for %s to be ready: %s", m.s.primary, describe(w.Primary))
		m.requeue = m.s.poll
		return
	}
	if !ready(w.Target, m.s.canaryReady) {
		stalled := m.now.Sub(m.progressTime())
		if stalled >= m.s.deadline {
			m.rollback(fmt.Sprintf("progress deadline exceeded: canary not ready after %s: %s", stalled, describe(w.Target)))
			return
		}
		if w.Target.Desired == 0 && !m.acted(ScaleCanaryUp) {
			// Scaled to zero in the middle of the release, by hand or by a
			// tick whose status was not saved: the analysis needs it.
			m.act(Action{Type: ScaleCanaryUp})
			m.event(Warning, "Progressing", "%s was scaled to zero during its analysis: scaling it up again", m.s.target)
		}
		m.say(Normal, "Progressing", "Waiting for %s to be ready: %s", m.s.target, describe(w.Target))
		m.requeue = min(m.s.poll, m.s.deadline-stalled)
		return
	}
	if m.s.skipAnalysis {
		m.promote("analysis skipped (spec.skipAnalysis)", true)
		return
	}
	due := m.st.LastCheckTime == nil || !m.now.Before(m.st.LastCheckTime.Add(m.s.interval))
	switch {
	case m.st.LastStepTime == nil && due:
		m.firstStep()
	case m.st.LastStepTime == nil:
		m.say(Normal, "Progressing", "Waiting to retry the start of %s's analysis", m.s.target)
		m.requeue = m.st.LastCheckTime.Add(m.s.interval).Sub(m.now)
	case due:
		m.check()
	default:
		m.between()
	}
}

func (m *machine) progressTime() time.Time {
	if m.st.ProgressTime != nil {
		return m.st.ProgressTime.Time
	}
	if m.st.AnalysisStartTime != nil {
		return m.st.AnalysisStartTime.Time
	}
	return m.now
}

// routes are the routes of the analysis at canary weight w.
func (m *machine) routes(w int) Routes {
	switch m.s.strategy {
	case v1beta1.StrategyABTesting:
		return Routes{PrimaryWeight: 100, Match: m.s.match}
	case v1beta1.StrategyBlueGreen:
		r := Routes{PrimaryWeight: 100}
		if m.s.mirror {
			r.Mirror, r.MirrorWeight = true, m.s.mirrorWeight
		}
		return r
	}
	r := Routes{PrimaryWeight: 100 - w, CanaryWeight: w}
	if sa := m.s.sessionAffinity; sa != nil && w > 0 {
		r.SessionAffinity = sa
		r.Cookie = sa.CookieName + "=" + m.st.LastAppliedSpec
		m.st.SessionAffinityCookie = r.Cookie
	}
	return r
}

// firstStep sends the canary its first traffic: through the
// confirm-traffic-increase gate, as every later step, then the pre-rollout
// hooks. The gate comes first so that the pre-rollout tests run once,
// right before the traffic, rather than at every tick the gate holds.
func (m *machine) firstStep() {
	if m.s.strategy == v1beta1.StrategyCanary {
		if g := m.hooks(v1beta1.ConfirmTrafficIncreaseHook); !g.ok {
			m.say(Normal, "Progressing", "Waiting for approval to advance %s from canary weight 0: %s", m.s.target, g.why)
			m.requeue = m.s.poll
			return
		}
	}
	if g := m.hooks(v1beta1.PreRolloutHook); !g.ok {
		m.failCheck([]string{g.why})
		return
	}
	m.st.LastStepTime, m.st.LastCheckTime, m.st.ProgressTime = m.stamp(), m.stamp(), m.stamp()
	switch m.s.strategy {
	case v1beta1.StrategyCanary:
		m.event(Normal, "Progressing", "Starting canary analysis for %s", m.s.target)
		w := m.s.nextWeight(0)
		m.setRoutes(m.routes(w))
		m.say(Normal, "Progressing", "Advance %s canary weight %d", m.s.target, w)
	case v1beta1.StrategyABTesting:
		m.setRoutes(m.routes(0))
		m.say(Normal, "Progressing", "Starting canary analysis for %s: requests that match go to the canary for %d iterations", m.s.target, m.s.iterations)
	case v1beta1.StrategyBlueGreen:
		m.setRoutes(m.routes(0))
		what := "traffic stays on " + m.s.primary
		if m.s.mirror {
			what = fmt.Sprintf("%d%% of the traffic is mirrored to the canary", m.s.mirrorWeight)
		}
		m.say(Normal, "Progressing", "Starting canary analysis for %s: %s for %d iterations", m.s.target, what, m.s.iterations)
	}
	m.requeue = m.nextCheck()
}

// check runs the checks due at a step: metrics and rollout webhooks.
func (m *machine) check() {
	results := m.judgeMetrics()
	fails, waits, passes := verdicts(results)
	if g := m.hooks(v1beta1.RolloutHook); !g.ok {
		fails = append(fails, g.why)
	}
	if conclusive(results) {
		m.rollback(strings.Join(fails, ", "))
		return
	}
	if len(fails) > 0 {
		m.failCheck(fails)
		return
	}
	if len(waits) > 0 {
		stalled := m.now.Sub(m.progressTime())
		if stalled >= m.s.deadline {
			m.rollback(fmt.Sprintf("progress deadline exceeded: no progress for %s: %s", stalled, strings.Join(waits, ", ")))
			return
		}
		m.say(Normal, "Progressing", "Halt advancement %s: %s", m.s.target, strings.Join(waits, ", "))
		m.requeue = min(m.s.poll, m.s.deadline-stalled)
		return
	}
	m.st.LastCheckTime = m.stamp()
	m.st.ProgressTime = m.stamp()
	m.advance(passes)
}

// conclusive says whether a statistical test showed a regression or a
// broken limit: such a Fail rolls back at once, without counting failed
// checks.
func conclusive(rs []judge.Result) bool {
	for _, r := range rs {
		if r.Verdict == judge.Fail && r.Conclusive {
			return true
		}
	}
	return false
}

// failCheck counts a failed check and rolls back at the threshold.
func (m *machine) failCheck(reasons []string) {
	m.st.FailedChecks++
	m.st.LastCheckTime = m.stamp()
	why := strings.Join(reasons, ", ")
	if m.st.FailedChecks >= m.s.threshold {
		m.rollback(fmt.Sprintf("failed checks threshold reached %d: %s", m.st.FailedChecks, why))
		return
	}
	m.say(Warning, "Progressing", "Halt advancement %s %s: failed check %d/%d", m.s.target, why, m.st.FailedChecks, m.s.threshold)
	m.requeue = m.nextCheck()
}

// advance moves the release one step after checks that passed.
func (m *machine) advance(passes []string) {
	switch m.s.strategy {
	case v1beta1.StrategyCanary:
		if m.st.CanaryWeight >= m.s.maxWeight {
			m.promote("canary analysis passed at weight "+fmt.Sprint(m.st.CanaryWeight)+colon(passes), false)
			return
		}
		if g := m.hooks(v1beta1.ConfirmTrafficIncreaseHook); !g.ok {
			m.say(Normal, "Progressing", "Waiting for approval to advance %s from canary weight %d: %s", m.s.target, m.st.CanaryWeight, g.why)
			m.requeue = m.nextCheck()
			return
		}
		w := m.s.nextWeight(m.st.CanaryWeight)
		m.setRoutes(m.routes(w))
		m.st.LastStepTime = m.stamp()
		m.say(Normal, "Progressing", "Advance %s canary weight %d%s", m.s.target, w, colon(passes))
	default:
		if m.st.Iterations < m.s.iterations {
			m.st.Iterations++
		}
		if m.st.Iterations >= m.s.iterations {
			m.promote(fmt.Sprintf("canary analysis passed %d/%d iterations%s", m.st.Iterations, m.s.iterations, colon(passes)), false)
			return
		}
		m.st.LastStepTime = m.stamp()
		m.say(Normal, "Progressing", "Advance %s canary iteration %d/%d%s", m.s.target, m.st.Iterations, m.s.iterations, colon(passes))
	}
	m.requeue = m.nextCheck()
}

// between evaluates the metrics between steps when
// analysis.judge.evaluationInterval asks for it.
func (m *machine) between() {
	m.requeue = m.nextCheck()
	if m.s.evalInterval == 0 {
		return
	}
	results := m.judgeMetrics()
	fails, _, _ := verdicts(results)
	if len(fails) == 0 {
		return
	}
	if conclusive(results) {
		m.rollback(strings.Join(fails, ", "))
		return
	}
	m.say(Warning, "Progressing", "%s %s: counts as a failed check if it persists at the next step",
		m.s.target, strings.Join(fails, ", "))
}

// nextCheck is the time to the next step or, with an evaluation interval,
// the next evaluation.
func (m *machine) nextCheck() time.Duration {
	if m.st.LastCheckTime == nil {
		return m.s.poll
	}
	since := m.now.Sub(m.st.LastCheckTime.Time)
	next := m.s.interval - since
	if m.s.evalInterval > 0 && m.st.LastStepTime != nil {
		next = min(next, m.s.evalInterval-since%m.s.evalInterval)
	}
	return max(next, time.Second)
}

// promote copies the canary's spec to the primary, through the
// confirm-promotion gate unless a person asked for it.
func (m *machine) promote(why string, manual bool) {
	if !manual {
		if g := m.hooks(v1beta1.ConfirmPromotionHook); !g.ok {
			m.setPhase(v1beta1.PhaseWaitingPromotion)
			m.sayAlert(m.waitAlert(g, v1beta1.PhaseWaitingPromotion), Normal, "Waiting", "Waiting for approval to promote %s (%s): %s", m.s.target, why, g.why)
			m.st.LastCheckTime = m.stamp()
			m.requeue = m.nextCheck()
			return
		}
	}
	m.event(Normal, "Promoting", "Copying %s template spec to %s: %s", m.s.target, m.s.primary, why)
	m.act(Action{Type: PromotePrimary})
	if m.s.strategy == v1beta1.StrategyBlueGreen {
		m.setRoutes(Routes{CanaryWeight: 100})
		m.event(Normal, "Promoting", "Routing all traffic to canary %s while %s rolls out", m.s.target, m.s.primary)
	}
	m.st.LastPromotedSpec = m.st.LastAppliedSpec
	m.st.LastStepTime, m.st.ProgressTime = nil, m.stamp()
	m.setPhase(v1beta1.PhasePromoting)
	m.st.Message = fmt.Sprintf("Promoting %s: waiting for %s to roll out revision %s", m.s.target, m.s.primary, m.st.LastAppliedSpec)
	m.requeue = m.s.poll
}

// promoting waits for the primary to run the promoted spec, then moves the
// traffic back to it, at once or in steps of stepWeightPromotion.
func (m *machine) promoting() {
	w := m.obs.Workload
	if !ready(w.Primary, m.s.primaryReady) {
		m.say(Normal, "Promoting", "Promoting %s: waiting for %s to roll out: %s", m.s.target, m.s.primary, describe(w.Primary))
		m.requeue = m.s.poll
		return
	}
	if m.s.stepWeightPromotion <= 0 || m.s.strategy != v1beta1.StrategyCanary {
		m.finalise()
		return
	}
	if m.st.LastStepTime != nil && m.now.Before(m.st.LastStepTime.Add(m.s.interval)) {
		m.requeue = m.st.LastStepTime.Add(m.s.interval).Sub(m.now)
		return
	}
	primary := min(100-m.st.CanaryWeight+m.s.stepWeightPromotion, 100)
	if primary >= 100 {
		m.finalise()
		return
	}
	m.setRoutes(Routes{PrimaryWeight: primary, CanaryWeight: 100 - primary})
	m.st.LastStepTime = m.stamp()
	m.say(Normal, "Promoting", "Advance %s primary weight %d", m.s.primary, primary)
	m.requeue = m.s.interval
}

// finalise routes all traffic to the promoted primary and scales the
// canary down.
func (m *machine) finalise() {
	m.setRoutes(Routes{PrimaryWeight: 100})
	m.act(Action{Type: ScaleCanaryDown})
	if len(m.s.hooks[v1beta1.PostRolloutHook]) > 0 {
		m.act(Action{Type: CallHooks, Hook: v1beta1.PostRolloutHook})
	}
	m.st.Iterations = 0
	m.st.LastStepTime = m.stamp()
	m.setPhase(v1beta1.PhaseSucceeded)
	m.setCondition(v1beta1.PromotedCondition, metav1.ConditionTrue, "Succeeded", "Canary analysis completed successfully, promotion finished.")
	m.sayAlert(AlertInfo, Normal, "Succeeded", "Promotion completed! Scaling down %s: %s runs revision %s", m.s.target, m.s.primary, m.st.LastPromotedSpec)
	m.requeue = m.s.interval
}

// rollback routes all traffic to the primary and scales the canary down.
func (m *machine) rollback(why string) {
	m.event(Warning, "Failed", "Rolling back %s %s", m.s.target, why)
	m.setRoutes(Routes{PrimaryWeight: 100})
	m.act(Action{Type: ScaleCanaryDown})
	if len(m.s.hooks[v1beta1.PostRolloutHook]) > 0 {
		m.act(Action{Type: CallHooks, Hook: v1beta1.PostRolloutHook})
	}
	m.st.Iterations = 0
	m.removeCondition(PausedCondition)
	m.setPhase(v1beta1.PhaseFailed)
	m.setCondition(v1beta1.PromotedCondition, metav1.ConditionFalse, "Failed", "Canary analysis failed, Deployment scaled to zero.")
	m.sayAlert(AlertError, Warning, "Failed", "Canary failed! Scaling down %s: rolled back, %s", m.s.target, why)
	m.requeue = m.s.interval
}

// terminate handles a Canary being deleted.
func (m *machine) terminate() {
	if !m.s.revertOnDeletion {
		m.setPhase(v1beta1.PhaseTerminated)
		m.st.Message = fmt.Sprintf("Terminated %s: spec.revertOnDeletion is not set, workloads left as they are", m.s.target)
		return
	}
	if m.st.Phase == v1beta1.PhaseTerminated {
		return
	}
	m.act(Action{Type: RestoreTarget})
	if m.st.Phase == v1beta1.PhaseTerminating && ready(m.obs.Workload.Target, m.s.canaryReady) {
		m.setPhase(v1beta1.PhaseTerminated)
		m.say(Normal, "Terminated", "Terminated %s: target restored, all traffic to it", m.s.target)
		return
	}
	m.setPhase(v1beta1.PhaseTerminating)
	m.say(Normal, "Terminating", "Terminating %s: restoring the target and routing all traffic to it (%s)", m.s.target, describe(m.obs.Workload.Target))
	m.requeue = m.s.poll
}
