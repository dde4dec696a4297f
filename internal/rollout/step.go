package rollout

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// Plan says what the shell must gather for the next Step of c: whether to
// query the metrics (and since when) and which webhook gates to call, in
// order. The shell calls the gates in that order and stops after the first
// one whose outcome ends the tick (a gate that did not pass, or a rollback
// webhook that asks for a rollback); Step treats a gate without a result
// as closed.
//
// Plan follows the same path as Step, assuming that every check passes, so
// it asks only for what Step can use this tick.
func Plan(c *v1beta1.Canary, w WorkloadState, cmd Command, deleting bool, now time.Time) Needs {
	m := newMachine(c, Observed{Workload: w, Command: cmd, Deleting: deleting}, now, true)
	m.run()
	return m.needs
}

// Step decides one tick of c from what was observed. It is pure: the same
// Input always gives the same Decision, and in.Canary is not modified.
func Step(in Input) Decision {
	m := newMachine(in.Canary, in.Observed, in.Now, false)
	m.run()
	return m.decision()
}

// machine is the state of one Step (or Plan) in progress.
type machine struct {
	c    *v1beta1.Canary
	s    settings
	obs  Observed
	now  time.Time
	plan bool // planning: record needs, assume every check passes

	needs   Needs
	st      v1beta1.CanaryStatus
	actions []Action
	events  []Event
	results []judge.Result
	requeue time.Duration
}

func newMachine(c *v1beta1.Canary, obs Observed, now time.Time, plan bool) *machine {
	return &machine{
		c:    c,
		s:    settingsOf(c),
		obs:  obs,
		now:  now,
		plan: plan,
		st:   *c.Status.DeepCopy(),
	}
}

func (m *machine) decision() Decision {
	m.syncPromoted()
	st := m.st
	st.ObservedGeneration = m.c.Generation
	if st.Phase != m.c.Status.Phase || st.CanaryWeight != m.c.Status.CanaryWeight {
		st.LastTransitionTime = metav1.NewTime(m.now)
	}
	if len(m.results) > 0 {
		st.Metrics = make([]v1beta1.MetricStatus, len(m.results))
		for i, r := range m.results {
			st.Metrics[i] = v1beta1.MetricStatus{
				Name: r.Metric, Verdict: string(r.Verdict), Value: r.Value,
				Primary: r.Primary, Samples: r.Samples, Reason: r.Reason,
			}
		}
	}
	// Only the last SetRoutes of a tick counts.
	var actions []Action
	last := -1
	for i, a := range m.actions {
		if a.Type == SetRoutes {
			last = i
		}
	}
	for i, a := range m.actions {
		if a.Type != SetRoutes || i == last {
			actions = append(actions, a)
		}
	}
	return Decision{
		Status:       st,
		Actions:      actions,
		Events:       m.events,
		Results:      m.results,
		RequeueAfter: m.requeue,
	}
}

func (m *machine) act(a Action) { m.actions = append(m.actions, a) }

// acted says whether this tick already has an action of type t.
func (m *machine) acted(t ActionType) bool {
	for _, a := range m.actions {
		if a.Type == t {
			return true
		}
	}
	return false
}

func (m *machine) event(t EventType, reason, format string, args ...any) {
	m.events = append(m.events, Event{Type: t, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// say sets the status message; it records it as an event too when it is
// news (holding at the same place does not repeat the event).
func (m *machine) say(t EventType, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if msg != m.c.Status.Message || m.st.Phase != m.c.Status.Phase {
		m.events = append(m.events, Event{Type: t, Reason: reason, Message: msg})
	}
	m.st.Message = msg
}

// sayAlert is say for what alerts: the event, when it is recorded, goes to
// alert providers at level.
func (m *machine) sayAlert(level Alert, t EventType, reason, format string, args ...any) {
	n := len(m.events)
	m.say(t, reason, format, args...)
	if len(m.events) > n {
		m.events[n].Alert = level
	}
}

func (m *machine) setPhase(p v1beta1.CanaryPhase) { m.st.Phase = p }

func (m *machine) setRoutes(r Routes) {
	m.st.CanaryWeight = r.CanaryWeight
	m.act(Action{Type: SetRoutes, Routes: &r})
}

func (m *machine) stamp() *metav1.Time {
	t := metav1.NewTime(m.now)
	return &t
}

func (m *machine) setCondition(t v1beta1.CanaryConditionType, status metav1.ConditionStatus, reason, msg string) {
	for i := range m.st.Conditions {
		c := &m.st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(m.now)
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		c.LastUpdateTime = metav1.NewTime(m.now)
		return
	}
	m.st.Conditions = append(m.st.Conditions, v1beta1.CanaryCondition{
		Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(m.now), LastTransitionTime: metav1.NewTime(m.now),
	})
}

// syncPromoted keeps the Promoted condition in step with the phase as
// Flagger does: when the phase changes, its reason becomes the phase, with
// Flagger's status and message for it, unless this tick set it already
// (with a message of its own).
func (m *machine) syncPromoted() {
	p := m.st.Phase
	if p == m.c.Status.Phase {
		return
	}
	status, msg, ok := flaggerPromoted(p)
	if !ok {
		return
	}
	for _, c := range m.st.Conditions {
		if c.Type == v1beta1.PromotedCondition && c.Reason == string(p) && c.LastUpdateTime.Time.Equal(m.now) {
			return
		}
	}
	m.setCondition(v1beta1.PromotedCondition, status, string(p), msg)
}

// flaggerPromoted is the Promoted condition Flagger writes in phase p.
func flaggerPromoted(p v1beta1.CanaryPhase) (metav1.ConditionStatus, string, bool) {
	switch p {
	case v1beta1.PhaseInitializing:
		return metav1.ConditionUnknown, "New Deployment detected, starting initialization.", true
	case v1beta1.PhaseInitialized:
		return metav1.ConditionTrue, "Deployment initialization completed.", true
	case v1beta1.PhaseWaiting, v1beta1.PhaseWaitingPromotion:
		return metav1.ConditionUnknown, "Waiting for approval.", true
	case v1beta1.PhaseProgressing:
		return metav1.ConditionUnknown, "New revision detected, progressing canary analysis.", true
	case v1beta1.PhasePromoting:
		return metav1.ConditionUnknown, "Canary analysis completed, starting primary rolling update.", true
	case v1beta1.PhaseFinalising:
		return metav1.ConditionUnknown, "Canary analysis completed, routing all traffic to primary.", true
	case v1beta1.PhaseSucceeded:
		return metav1.ConditionTrue, "Canary analysis completed successfully, promotion finished.", true
	case v1beta1.PhaseFailed:
		return metav1.ConditionFalse, "Canary analysis failed, Deployment scaled to zero.", true
	}
	return "", "", false
}

func (m *machine) removeCondition(t v1beta1.CanaryConditionType) {
	out := m.st.Conditions[:0:0]
	for _, c := range m.st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	m.st.Conditions = out
}

func (m *machine) paused() bool {
	for _, c := range m.st.Conditions {
		if c.Type == PausedCondition && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// gate is the outcome of one webhook gate.
type gate struct {
	ok  bool   // every webhook of the gate passed (for rollback: one asked for it)
	why string // names the webhooks and what they said
	// muted: every webhook that holds the gate has muteAlert set, so
	// its wait does not alert.
	muted bool
}

// waitAlert is the alert of a wait at gate g in phase: a warning when the
// wait begins (the phase is new), none while it goes on, however its
// message changes, and none when every webhook holding the gate has
// muteAlert.
func (m *machine) waitAlert(g gate, phase v1beta1.CanaryPhase) Alert {
	if g.muted || m.c.Status.Phase == phase {
		return NoAlert
	}
	return AlertWarn
}

// hooks returns the outcome of the webhooks of gate t. A gate without
// webhooks passes (and a rollback gate without webhooks never rolls back).
func (m *machine) hooks(t v1beta1.HookType) gate {
	if len(m.s.hooks[t]) == 0 {
		return gate{ok: t != v1beta1.RollbackHook}
	}
	if m.plan {
		for _, h := range m.needs.Hooks {
			if h == t {
				return gate{ok: t != v1beta1.RollbackHook}
			}
		}
		m.needs.Hooks = append(m.needs.Hooks, t)
		return gate{ok: t != v1beta1.RollbackHook}
	}
	var seen, failed, passed []string
	muted := true
	for _, r := range m.obs.Hooks {
		if r.Type != t {
			continue
		}
		s := r.Name
		if r.Message != "" {
			s += ": " + r.Message
		}
		seen = append(seen, s)
		if r.OK {
			passed = append(passed, s)
		} else {
			failed = append(failed, s)
			muted = muted && m.s.mutedHooks[r.Name]
		}
	}
	switch {
	case len(seen) == 0:
		return gate{ok: false, why: fmt.Sprintf("no result from the %s webhooks", t)}
	case t == v1beta1.RollbackHook:
		return gate{ok: len(passed) > 0, why: fmt.Sprintf("%s webhook %s", t, strings.Join(passed, ", "))}
	case len(failed) > 0:
		return gate{ok: false, why: fmt.Sprintf("%s webhook %s", t, strings.Join(failed, ", ")), muted: muted}
	default:
		return gate{ok: true, why: fmt.Sprintf("%s webhook %s passed", t, strings.Join(seen, ", "))}
	}
}

// judgeMetrics judges every metric of the analysis on this tick's
// observations.
func (m *machine) judgeMetrics() []judge.Result {
	since := m.now
	if m.st.AnalysisStartTime != nil {
		since = m.st.AnalysisStartTime.Time
	}
	if m.plan {
		if len(m.s.metrics) > 0 {
			m.needs.Metrics, m.needs.MetricsSince = true, since
		}
		out := make([]judge.Result, len(m.s.metrics))
		for i, mt := range m.s.metrics {
			out[i] = judge.Result{Metric: mt.Name, Verdict: judge.Pass}
		}
		return out
	}
	out := make([]judge.Result, 0, len(m.s.metrics))
	for i, mt := range m.s.metrics {
		o, ok := m.observation(i, mt.Name)
		if !ok {
			o = judge.Observation{Metric: mt.Name, Err: "not observed this tick"}
		}
		if o.Target == "" {
			o.Target = m.s.target
		}
		out = append(out, m.s.judge.Judge(mt, o))
	}
	m.results = out
	return out
}

func (m *machine) observation(i int, name string) (judge.Observation, bool) {
	if i < len(m.obs.Metrics) && (m.obs.Metrics[i].Metric == name || m.obs.Metrics[i].Metric == "") {
		return m.obs.Metrics[i], true
	}
	for _, o := range m.obs.Metrics {
		if o.Metric == name {
			return o, true
		}
	}
	return judge.Observation{}, false
}

// verdicts sorts results into the reasons of those that failed, waited and
// passed.
func verdicts(rs []judge.Result) (fail, wait, pass []string) {
	for _, r := range rs {
		switch r.Verdict {
		case judge.Fail:
			fail = append(fail, r.Reason)
		case judge.Wait:
			wait = append(wait, r.Reason)
		default:
			pass = append(pass, r.Reason)
		}
	}
	return fail, wait, pass
}

// ready says whether r has finished rolling out with at least pct percent
// of its pods ready.
func ready(r Readiness, pct int) bool {
	return r.Desired > 0 && r.Updated >= r.Desired && int(r.Ready)*100 >= pct*int(r.Desired)
}

func describe(r Readiness) string {
	s := fmt.Sprintf("%d/%d pods ready, %d updated", r.Ready, r.Desired, r.Updated)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

func colon(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}
