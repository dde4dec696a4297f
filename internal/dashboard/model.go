package dashboard

import (
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// State is what the page shows at one moment: the answer of /api/state.
type State struct {
	Time        time.Time    `json:"time"`
	Window      string       `json:"window"`
	Canaries    []Canary     `json:"canaries"`
	Deployments []Deployment `json:"deployments"`
	// Events are the events after the request's since, oldest first.
	Events []local.Event `json:"events"`
	// LastSeq is the sequence number of the newest event, the since of the
	// next request.
	LastSeq int64 `json:"lastSeq"`
}

// Canary is a Canary's release as the page shows it.
type Canary struct {
	Namespace     string   `json:"namespace"`
	Name          string   `json:"name"`
	Strategy      string   `json:"strategy"`
	Phase         string   `json:"phase"`
	Paused        bool     `json:"paused"`
	Target        string   `json:"target"`
	Primary       string   `json:"primary"`
	Weight        int      `json:"weight"`
	MaxWeight     int      `json:"maxWeight"`
	StepWeight    int      `json:"stepWeight,omitempty"`
	StepWeights   []int    `json:"stepWeights,omitempty"`
	Interval      string   `json:"interval"`
	FailedChecks  int      `json:"failedChecks"`
	Threshold     int      `json:"threshold"`
	Iterations    int      `json:"iterations"`
	MaxIterations int      `json:"maxIterations,omitempty"`
	Revision      string   `json:"revision,omitempty"`
	Promoted      string   `json:"promotedRevision,omitempty"`
	Message       string   `json:"message,omitempty"`
	LastChange    string   `json:"lastTransitionTime,omitempty"`
	Metrics       []Metric `json:"metrics"`
	// Decisions are the Canary's last events, oldest first.
	Decisions []Decision `json:"decisions"`
	// CanCommand is whether the caller may give the Canary commands: the
	// page shows its buttons only then.
	CanCommand bool `json:"canCommand"`
}

// Metric is the last evaluation of one of a Canary's metrics.
type Metric struct {
	Name      string   `json:"name"`
	Verdict   string   `json:"verdict"`
	Value     *float64 `json:"value,omitempty"`
	Primary   *float64 `json:"primary,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	Threshold string   `json:"threshold"`
	Samples   int64    `json:"samples"`
	Reason    string   `json:"reason,omitempty"`
}

// Decision is one event of a Canary: what the engine did and why.
type Decision struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int       `json:"count,omitempty"`
}

// Deployment is a Deployment with its golden metrics and pods.
type Deployment struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Images    []string `json:"images"`
	Revision  string   `json:"revision"`
	Replicas  int32    `json:"replicas"`
	Ready     int32    `json:"ready"`
	Reason    string   `json:"reason,omitempty"`
	// Role is "primary" or "canary" for the Deployments a Canary drives.
	Role   string `json:"role,omitempty"`
	Canary string `json:"canary,omitempty"`
	Stats  *Stats `json:"stats"`
	Pods   []Pod  `json:"pods"`
}

// Stats are golden metrics as `linkerd viz stat` shows them; Success, P50,
// P95 and P99 are absent without traffic.
type Stats struct {
	Meshed   string   `json:"meshed"`
	Requests int64    `json:"requests"`
	Failures int64    `json:"failures"`
	Success  *float64 `json:"success,omitempty"`
	RPS      float64  `json:"rps"`
	P50      *float64 `json:"p50,omitempty"`
	P95      *float64 `json:"p95,omitempty"`
	P99      *float64 `json:"p99,omitempty"`
}

// Pod is one pod of a Deployment.
type Pod struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Ready    bool   `json:"ready"`
	Restarts int    `json:"restarts"`
	Age      string `json:"age"`
	Reason   string `json:"reason,omitempty"`
}

// maxDecisions is how many events of each Canary the page shows.
const maxDecisions = 8

// maxEvents is how many events one answer carries at most.
const maxEvents = 200

// buildState assembles the page's state from a snapshot, the stats and the
// events (all of them, oldest first): the events of each Canary are its
// decisions.
//
// visible says whether the caller may see a namespace; what it may not see
// is left out.
func buildState(now time.Time, window time.Duration, snap local.Snapshot, stats []local.DeploymentStat, events []local.Event, since int64, visible func(ns string) bool) State {
	st := State{
		Time: now, Window: window.String(),
		Canaries: []Canary{}, Deployments: []Deployment{}, Events: []local.Event{},
	}
	// Each Canary's events, grouped once, so that the answer costs the
	// same for 500 Canaries as the events themselves.
	byCanary := map[string][]local.Event{}
	for _, e := range events {
		if e.Kind == "Canary" {
			k := e.Namespace + "/" + e.Name
			byCanary[k] = append(byCanary[k], e)
		}
	}
	roles := map[string][2]string{} // namespace/deployment -> role, canary
	for i := range snap.Canaries {
		c := &snap.Canaries[i]
		if !visible(c.Namespace) {
			continue
		}
		roles[c.Namespace+"/"+wlocal.PrimaryName(c)] = [2]string{"primary", c.Name}
		roles[c.Namespace+"/"+c.Spec.TargetRef.Name] = [2]string{"canary", c.Name}
		st.Canaries = append(st.Canaries, canaryView(c, byCanary[c.Namespace+"/"+c.Name]))
	}
	podsOf := map[string][]local.PodStatus{}
	for _, p := range snap.Pods {
		k := p.Namespace + "/" + p.Deployment
		podsOf[k] = append(podsOf[k], p)
	}
	byDeploy := map[string]local.DeploymentStat{}
	for _, s := range stats {
		byDeploy[s.Namespace+"/"+s.Name] = s
	}
	for _, d := range snap.Deployments {
		dep := d.Deployment
		if !visible(dep.Namespace) {
			continue
		}
		key := dep.Namespace + "/" + dep.Name
		v := Deployment{
			Namespace: dep.Namespace, Name: dep.Name, Revision: d.Revision,
			Ready: d.Ready, Reason: d.Reason, Images: []string{}, Pods: []Pod{},
		}
		if dep.Spec.Replicas != nil {
			v.Replicas = *dep.Spec.Replicas
		}
		for _, c := range dep.Spec.Template.Spec.Containers {
			v.Images = append(v.Images, c.Image)
		}
		if r, ok := roles[key]; ok {
			v.Role, v.Canary = r[0], r[1]
		}
		if s, ok := byDeploy[key]; ok {
			v.Stats = statsView(s)
		}
		for _, p := range podsOf[key] {
			v.Pods = append(v.Pods, podView(now, p))
		}
		st.Deployments = append(st.Deployments, v)
	}
	for _, e := range events {
		st.LastSeq = max(st.LastSeq, e.Seq)
		if e.Seq > since && visible(e.Namespace) {
			st.Events = append(st.Events, e)
		}
	}
	if len(st.Events) > maxEvents {
		st.Events = st.Events[len(st.Events)-maxEvents:]
	}
	return st
}

// canaryView is a Canary as the page shows it; events are its own events,
// oldest first.
func canaryView(c *v1beta1.Canary, events []local.Event) Canary {
	a := c.Spec.Analysis
	s := c.Status
	v := Canary{
		Namespace: c.Namespace, Name: c.Name, Strategy: string(c.Strategy()),
		Phase: string(s.Phase), Target: c.Spec.TargetRef.Name, Primary: wlocal.PrimaryName(c),
		Weight: s.CanaryWeight, MaxWeight: a.EffectiveMaxWeight(),
		Interval:     a.IntervalDuration().String(),
		FailedChecks: s.FailedChecks, Threshold: a.EffectiveThreshold(),
		Iterations: s.Iterations, Revision: s.LastAppliedSpec, Promoted: s.LastPromotedSpec,
		Message: s.Message, Metrics: []Metric{}, Decisions: []Decision{},
	}
	if v.Phase == "" {
		v.Phase = string(v1beta1.PhaseInitializing)
	}
	if !s.LastTransitionTime.IsZero() {
		v.LastChange = s.LastTransitionTime.UTC().Format(time.RFC3339)
	}
	v.Paused = paused(c)
	if a != nil {
		v.StepWeight, v.StepWeights, v.MaxIterations = a.StepWeight, a.StepWeights, a.Iterations
	}
	seen := map[string]bool{}
	for _, m := range s.Metrics {
		seen[m.Name] = true
		v.Metrics = append(v.Metrics, Metric{
			Name: m.Name, Verdict: m.Verdict, Value: finite(m.Value), Primary: finite(m.Primary),
			Unit: metricUnit(m.Name), Threshold: thresholdOf(a, m.Name), Samples: m.Samples, Reason: m.Reason,
		})
	}
	if a != nil {
		for _, m := range a.Metrics { // not yet evaluated
			if !seen[m.Name] {
				v.Metrics = append(v.Metrics, Metric{Name: m.Name, Verdict: "pending", Unit: metricUnit(m.Name), Threshold: thresholdOf(a, m.Name)})
			}
		}
	}
	if len(events) > maxDecisions {
		events = events[len(events)-maxDecisions:]
	}
	for _, e := range events {
		v.Decisions = append(v.Decisions, Decision{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count})
	}
	return v
}

// paused says whether a command holds the Canary's release.
func paused(c *v1beta1.Canary) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == rollout.PausedCondition && cond.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

func metricUnit(name string) string {
	switch name {
	case v1beta1.MetricRequestSuccessRate:
		return "%"
	case v1beta1.MetricRequestDuration:
		return "ms"
	}
	return ""
}

// thresholdOf says in words the range the metric must stay within, as the
// Canary's spec sets it.
func thresholdOf(a *v1beta1.CanaryAnalysis, name string) string {
	if a == nil {
		return ""
	}
	for _, m := range a.Metrics {
		if m.Name != name {
			continue
		}
		unit := metricUnit(name)
		if unit == "ms" {
			unit = " ms"
		}
		num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + unit }
		lo, hi := judge.Bounds(m)
		switch {
		case lo != nil && hi != nil:
			return fmt.Sprintf("%s – %s", num(*lo), num(*hi))
		case lo != nil:
			return "≥ " + num(*lo)
		case hi != nil:
			return "≤ " + num(*hi)
		}
		return "none"
	}
	return ""
}

func statsView(s local.DeploymentStat) *Stats {
	v := &Stats{Meshed: s.Meshed, Requests: s.Stats.Requests, Failures: s.Stats.Failures, RPS: s.Stats.RPS}
	if s.HasTraffic {
		v.Success, v.P50, v.P95, v.P99 = ptr(s.Stats.SuccessRate), ptr(s.Stats.P50), ptr(s.Stats.P95), ptr(s.Stats.P99)
	}
	return v
}

func podView(now time.Time, p local.PodStatus) Pod {
	status := "Pending"
	switch {
	case p.Terminating:
		status = "Terminating"
	case p.Running:
		status = "Running"
	case p.Restarts > 0:
		status = "CrashLoopBackOff"
	}
	return Pod{
		Name: p.Name, Status: status, Ready: p.Ready, Restarts: p.Restarts,
		Age: age(now.Sub(p.Started)), Reason: p.Reason,
	}
}

// age formats a duration as kubectl's AGE column does: 45s, 3m12s, 2h5m, 3d.
func age(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 10*time.Minute && int(d.Seconds())%60 != 0:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func ptr(f float64) *float64 { return &f }

// finite drops values JSON cannot carry.
func finite(f *float64) *float64 {
	if f == nil || *f != *f || *f > 1e308 || *f < -1e308 {
		return nil
	}
	return f
}
