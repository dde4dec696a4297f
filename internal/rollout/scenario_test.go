package rollout

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// epoch is the time of the first tick of every scenario.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// world is what the scenario's workloads, metrics and webhooks look like.
// Actions change it as a runtime would, with pods ready by the next tick
// unless a script says they are stuck.
type world struct {
	targetFound   bool
	revision      string
	replicas      int32
	canaryUp      bool
	canaryStuck   string
	canaryRolling bool // the target's new template is rolling out
	primaryExists bool
	primaryStuck  string
	metrics       map[string]judge.Observation
	hooks         map[v1beta1.HookType]HookResult
	routes        Routes
}

func (w *world) state() WorkloadState {
	s := WorkloadState{TargetFound: w.targetFound, TargetRevision: w.revision, PrimaryFound: w.primaryExists}
	if w.canaryUp {
		s.Target = Readiness{Desired: w.replicas, Updated: w.replicas, Ready: w.replicas}
		if w.canaryRolling {
			s.Target.Updated, s.Target.Ready = 0, 0
		}
		if w.canaryStuck != "" {
			s.Target.Ready, s.Target.Reason = 0, w.canaryStuck
		}
	}
	if w.primaryExists {
		s.Primary = Readiness{Desired: w.replicas, Updated: w.replicas, Ready: w.replicas}
		if w.primaryStuck != "" {
			s.Primary.Ready, s.Primary.Reason = 0, w.primaryStuck
		}
	}
	return s
}

func (w *world) apply(a Action) {
	switch a.Type {
	case InitPrimary:
		w.primaryExists = true
	case ScaleCanaryUp, RestoreTarget:
		w.canaryUp = true
	case ScaleCanaryDown:
		w.canaryUp = false
	case SetRoutes:
		w.routes = *a.Routes
	}
}

type scenario struct {
	c        *v1beta1.Canary
	now      time.Time
	world    world
	cmd      Command
	deleting bool
	last     Decision
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario scripts in testdata")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			s := &scenario{}
			runScript(t, f, s.do)
		})
	}
}

func (s *scenario) do(t *testing.T, tc *testCase) string {
	t.Helper()
	fail := func(format string, args ...any) string {
		t.Fatalf("%s: %s", tc.Pos, fmt.Sprintf(format, args...))
		return ""
	}
	switch tc.Cmd {
	case "canary":
		c := &v1beta1.Canary{}
		if err := yaml.UnmarshalStrict([]byte(tc.Input), c); err != nil {
			return fail("canary: %v", err)
		}
		if _, keep := tc.arg("keep-status"); keep && s.c != nil {
			c.Status = s.c.Status
			s.c = c
			return "ok"
		}
		s.c, s.now, s.cmd, s.deleting, s.last = c, epoch, NoCommand, false, Decision{}
		s.world = world{
			targetFound: true, revision: "rev1", replicas: 2, canaryUp: true,
			metrics: map[string]judge.Observation{}, hooks: map[v1beta1.HookType]HookResult{},
		}
		return "ok"
	case "observe":
		for _, a := range tc.Args {
			switch a.Key {
			case "target-revision":
				s.world.revision = a.Val
				s.world.canaryRolling = true
			case "target-found":
				s.world.targetFound = a.Val == "true"
			case "canary":
				s.world.canaryUp = a.Val == "up"
			case "canary-stuck":
				s.world.canaryStuck = a.Val
			case "primary-stuck":
				s.world.primaryStuck = a.Val
			case "replicas":
				n, err := strconv.Atoi(a.Val)
				if err != nil {
					return fail("replicas: %v", err)
				}
				s.world.replicas = int32(n)
			default:
				return fail("observe: unknown key %q", a.Key)
			}
		}
		return "ok"
	case "metric":
		if len(tc.Args) < 2 {
			return fail("metric NAME value=V n=N [canary=R/F primary=R/F baseline=R/F] | none | err=E")
		}
		name := tc.Args[0].Key
		o := judge.Observation{Metric: name}
		for _, a := range tc.Args[1:] {
			switch a.Key {
			case "none":
			case "value":
				v, err := strconv.ParseFloat(a.Val, 64)
				if err != nil {
					return fail("value: %v", err)
				}
				o.Value, o.HasValue = v, true
			case "n":
				n, err := strconv.ParseInt(a.Val, 10, 64)
				if err != nil {
					return fail("n: %v", err)
				}
				o.Samples = n
			case "err":
				o.Err = a.Val
			case "canary", "primary", "baseline":
				// Cumulative counts as REQUESTS/FAILURES.
				var c judge.Counts
				if _, err := fmt.Sscanf(a.Val, "%d/%d", &c.Requests, &c.Failures); err != nil {
					return fail("%s: want REQUESTS/FAILURES, got %q", a.Key, a.Val)
				}
				o.HasCounts = true
				switch a.Key {
				case "canary":
					o.Canary = c
				case "primary":
					o.Primary = c
				default:
					o.Baseline = c
				}
			default:
				return fail("metric: unknown key %q", a.Key)
			}
		}
		s.world.metrics[name] = o
		return "ok"
	case "hook":
		if len(tc.Args) < 2 {
			return fail("hook TYPE ok|fail [msg=M]")
		}
		typ := v1beta1.HookType(tc.Args[0].Key)
		msg, _ := tc.arg("msg")
		s.world.hooks[typ] = HookResult{Type: typ, OK: tc.Args[1].Key == "ok", Message: msg}
		return "ok"
	case "command":
		if len(tc.Args) != 1 {
			return fail("command promote|abort|pause|resume")
		}
		s.cmd = Command(tc.Args[0].Key)
		return "ok"
	case "delete":
		s.deleting = true
		return "ok"
	case "suspend":
		s.c.Spec.Suspend = len(tc.Args) == 0 || tc.Args[0].Key != "false"
		return "ok"
	case "tick":
		if len(tc.Args) > 0 {
			d, err := time.ParseDuration(strings.TrimPrefix(tc.Args[0].Key, "+"))
			if err != nil {
				return fail("tick: %v", err)
			}
			s.now = s.now.Add(d)
		} else {
			s.now = s.now.Add(s.last.RequeueAfter)
		}
		needs, d := s.tick(t, tc)
		return s.render(needs, d)
	case "run":
		// run [until=Phase] [max=N]: tick at each RequeueAfter, one line a tick.
		until, _ := tc.arg("until")
		limit := 100
		if v, ok := tc.arg("max"); ok {
			limit, _ = strconv.Atoi(v)
		}
		var b strings.Builder
		for i := 0; i < limit; i++ {
			s.now = s.now.Add(s.last.RequeueAfter)
			_, d := s.tick(t, tc)
			b.WriteString(s.line(d))
			b.WriteString("\n")
			if until != "" && string(d.Status.Phase) == until {
				break
			}
		}
		return b.String()
	}
	return fail("unknown command %q", tc.Cmd)
}

// tick gathers what Plan asks for, as the engine does, steps, checks the
// invariants and applies the actions to the world.
func (s *scenario) tick(t *testing.T, tc *testCase) (Needs, Decision) {
	t.Helper()
	w := s.world.state()
	s.world.canaryRolling = false
	needs := Plan(s.c, w, s.cmd, s.deleting, s.now)
	obs := Observed{Workload: w, Command: s.cmd, Deleting: s.deleting}
	for _, typ := range needs.Hooks {
		res := s.hookResults(typ)
		obs.Hooks = append(obs.Hooks, res...)
		if endsTick(typ, res) {
			break
		}
	}
	if needs.Metrics {
		for _, m := range s.c.Spec.Analysis.Metrics {
			o, ok := s.world.metrics[m.Name]
			if !ok {
				o = judge.Observation{Metric: m.Name}
			}
			obs.Metrics = append(obs.Metrics, o)
		}
	}
	in := Input{Canary: s.c, Observed: obs, Now: s.now}
	before := s.c.DeepCopy()
	d := Step(in)
	if again := Step(in); !reflect.DeepEqual(d, again) {
		t.Fatalf("%s: Step is not deterministic:\n%+v\n%+v", tc.Pos, d, again)
	}
	if !reflect.DeepEqual(before, s.c) {
		t.Fatalf("%s: Step modified its input", tc.Pos)
	}
	if err := checkInvariants(s.c, d); err != nil {
		t.Fatalf("%s: %v", tc.Pos, err)
	}
	for _, a := range d.Actions {
		s.world.apply(a)
	}
	s.c.Status = d.Status
	s.cmd = NoCommand
	s.last = d
	return needs, d
}

func (s *scenario) hookResults(typ v1beta1.HookType) []HookResult {
	var out []HookResult
	for _, h := range s.c.Spec.Analysis.Webhooks {
		ht := h.Type
		if ht == "" {
			ht = v1beta1.RolloutHook
		}
		if ht != typ {
			continue
		}
		r, ok := s.world.hooks[typ]
		if !ok {
			// Gates pass by default; a rollback webhook asks for nothing.
			r = HookResult{OK: typ != v1beta1.RollbackHook}
		}
		r.Name, r.Type = h.Name, typ
		out = append(out, r)
	}
	return out
}

// endsTick says whether the outcome of a gate makes the later gates moot,
// the rule the engine follows.
func endsTick(typ v1beta1.HookType, rs []HookResult) bool {
	for _, r := range rs {
		if r.OK == (typ == v1beta1.RollbackHook) {
			return true
		}
	}
	return false
}

// checkInvariants holds for every Decision.
func checkInvariants(c *v1beta1.Canary, d Decision) error {
	st := d.Status
	if st.CanaryWeight < 0 || st.CanaryWeight > 100 {
		return fmt.Errorf("canary weight %d out of 0..100", st.CanaryWeight)
	}
	threshold := 1
	if c.Spec.Analysis != nil && c.Spec.Analysis.Threshold > 1 {
		threshold = c.Spec.Analysis.Threshold
	}
	for _, a := range d.Actions {
		switch a.Type {
		case SetRoutes:
			r := a.Routes
			if r == nil {
				return fmt.Errorf("SetRoutes without routes")
			}
			if r.PrimaryWeight < 0 || r.CanaryWeight < 0 || r.PrimaryWeight+r.CanaryWeight != 100 {
				return fmt.Errorf("routes %d/%d do not split 100", r.PrimaryWeight, r.CanaryWeight)
			}
		case PromotePrimary:
			if st.FailedChecks >= threshold {
				return fmt.Errorf("promoted with %d failed checks, threshold %d", st.FailedChecks, threshold)
			}
		}
	}
	if d.RequeueAfter < 0 {
		return fmt.Errorf("negative requeue %s", d.RequeueAfter)
	}
	// A release that ends alerts once, at error when rolled back, at
	// info when promoted.
	var alerts []Event
	for _, e := range d.Events {
		if e.Alert != NoAlert && (e.Reason == "Failed" || e.Reason == "Succeeded") {
			alerts = append(alerts, e)
		}
	}
	ended := map[v1beta1.CanaryPhase]Alert{v1beta1.PhaseFailed: AlertError, v1beta1.PhaseSucceeded: AlertInfo}
	if want, ok := ended[st.Phase]; ok && c.Status.Phase != st.Phase && (len(alerts) != 1 || alerts[0].Alert != want) {
		return fmt.Errorf("%s after %s with alerts %+v, want one at %s", st.Phase, c.Status.Phase, alerts, want)
	}
	return nil
}

func (s *scenario) elapsed() string {
	return "+" + s.now.Sub(epoch).String()
}

func (s *scenario) render(needs Needs, d Decision) string {
	var b strings.Builder
	st := d.Status
	fmt.Fprintf(&b, "t=%s %s weight=%d failed=%d iterations=%d\n", s.elapsed(), st.Phase, st.CanaryWeight, st.FailedChecks, st.Iterations)
	var n []string
	if needs.Metrics {
		n = append(n, "metrics since +"+needs.MetricsSince.Sub(epoch).String())
	}
	for _, h := range needs.Hooks {
		n = append(n, "hook "+string(h))
	}
	if len(n) > 0 {
		fmt.Fprintf(&b, "needs: %s\n", strings.Join(n, ", "))
	}
	if len(d.Actions) > 0 {
		fmt.Fprintf(&b, "actions: %s\n", actionList(d.Actions))
	}
	said := false
	for _, e := range d.Events {
		alert := ""
		if e.Alert != NoAlert {
			alert = " (alert " + e.Alert.String() + ")"
		}
		fmt.Fprintf(&b, "event: %s %s%s: %s\n", e.Type, e.Reason, alert, e.Message)
		said = said || e.Message == st.Message
	}
	if !said && st.Message != "" {
		fmt.Fprintf(&b, "message: %s\n", st.Message)
	}
	fmt.Fprintf(&b, "requeue: %s", d.RequeueAfter)
	return b.String()
}

func (s *scenario) line(d Decision) string {
	st := d.Status
	msg := st.Message
	var evs []string
	for _, e := range d.Events {
		if e.Alert != NoAlert {
			evs = append(evs, "(alert "+e.Alert.String()+") "+e.Message)
			continue
		}
		evs = append(evs, e.Message)
	}
	if len(evs) > 0 {
		msg = strings.Join(evs, " | ")
	}
	acts := ""
	if len(d.Actions) > 0 {
		acts = " [" + actionList(d.Actions) + "]"
	}
	return fmt.Sprintf("%s %s w=%d fc=%d%s %s", s.elapsed(), st.Phase, st.CanaryWeight, st.FailedChecks, acts, msg)
}

func actionList(as []Action) string {
	var out []string
	for _, a := range as {
		switch {
		case a.Routes != nil:
			r := a.Routes
			s := fmt.Sprintf("SetRoutes %d/%d", r.PrimaryWeight, r.CanaryWeight)
			if r.Mirror {
				s += fmt.Sprintf(" mirror=%d%%", r.MirrorWeight)
			}
			if len(r.Match) > 0 {
				s += fmt.Sprintf(" match=%d", len(r.Match))
			}
			if r.Cookie != "" {
				s += " cookie=" + r.Cookie
			}
			out = append(out, s)
		case a.Hook != "":
			out = append(out, fmt.Sprintf("%s %s", a.Type, a.Hook))
		default:
			out = append(out, string(a.Type))
		}
	}
	return strings.Join(out, ", ")
}
