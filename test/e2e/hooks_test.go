package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/hooks"
	"github.com/serinhq/serin/internal/local"
)

// openGate posts the Canary podinfo's payload to a loadtester's gate.
func openGate(t *testing.T, url, path string) {
	t.Helper()
	if code, body := postJSON(t, url+path, `{"name":"podinfo","namespace":"test"}`, ""); code != 202 {
		t.Fatalf("POST %s = %d %q", path, code, body)
	}
}

// gateChecks counts the checks a loadtester answered closed.
func gateChecks(lt *started, gate string) int {
	return countLines(lt.out.String(), `"msg":"gate checked"`, `"gate":"`+gate+`"`, `"open":false`)
}

// holds checks that the Canary stays as it is while a loadtester answers
// three more checks of gate closed.
func holds(t *testing.T, state string, lt *started, gate string, phases []v1beta1.CanaryPhase, weight int) {
	t.Helper()
	n := gateChecks(lt, gate)
	waitFor(t, 20*time.Second, "three more closed "+gate+" checks", func() bool { return gateChecks(lt, gate) >= n+3 })
	c, _ := canaryOf(t, state, "podinfo")
	phaseOK := false
	for _, p := range phases {
		phaseOK = phaseOK || c.Status.Phase == p
	}
	if !phaseOK || c.Status.CanaryWeight != weight {
		t.Fatalf("while the %s gate is closed: phase %s weight %d, want %v at weight %d", gate, c.Status.Phase, c.Status.CanaryWeight, phases, weight)
	}
}

// successRate is an analysis' request-success-rate check, which waits
// for traffic to the canary.
const successRate = `    metrics:
      - name: request-success-rate
        thresholdRange:
          min: 99
        interval: 1m
`

// releasePodinfo runs serin run with podinfo on port, its Canary with
// analysis (YAML indented by four spaces) and extra manifests, waits for
// the Canary to initialise and sets a new image. It returns the state
// directory.
func releasePodinfo(t *testing.T, bin string, port int, analysis, extra string) string {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	app := writeFile(t, dir, "app.yaml", appManifests(port)+extra)
	cn := writeFile(t, dir, "canary.yaml", canaryNamed("podinfo", port, analysis))
	start(t, bin, "run", "-f", app, "-f", cn, "--state-dir", state)
	waitPhase(t, state, "podinfo", v1beta1.PhaseInitialized, time.Minute)
	if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	return state
}

// afterHooks are a post-rollout webhook that the loadtester at lt runs as
// one request to the receiver's /post-rollout, and an event webhook to its
// /events.
func afterHooks(lt, recv string) string {
	return fmt.Sprintf(`      - name: notify
        type: post-rollout
        url: %s/
        metadata:
          cmd: "hey -n 1 -c 1 %s/post-rollout"
      - name: events
        type: event
        url: %[2]s/events
`, lt, recv)
}

var samples = regexp.MustCompile(`\(n=(\d+)\)`)

// TestHooksPromote releases podinfo through every gate a Canary can have,
// served by real `serin loadtester` processes (one per gate, since a
// loadtester's gates are keyed by Canary), with the release's only
// traffic sent by the loadtester as the rollout hook's hey load.
func TestHooksPromote(t *testing.T) {
	bin := serin(t)
	recv := startReceiver(t)
	startURL, startP := startLoadtester(t, bin)
	stepURL, stepP := startLoadtester(t, bin)
	promoURL, promoP := startLoadtester(t, bin)
	port := freePort(t)
	app := fmt.Sprintf("http://127.0.0.1:%d/", port)
	analysis := fmt.Sprintf(`    interval: 1s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
%[6]s    webhooks:
      - name: start-gate
        type: confirm-rollout
        url: %[1]s/gate/check
      - name: acceptance
        type: pre-rollout
        url: %[1]s/
        timeout: 30s
        metadata:
          type: cmd
          cmd: "hey -n 20 -c 2 %[4]s"
      - name: load
        url: %[1]s/
        timeout: 5s
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 %[4]s"
      - name: step-gate
        type: confirm-traffic-increase
        url: %[2]s/gate/check
      - name: promotion-gate
        type: confirm-promotion
        url: %[3]s/gate/check
`, startURL, stepURL, promoURL, app, recv.URL, successRate) + afterHooks(startURL, recv.URL)
	state := releasePodinfo(t, bin, port, analysis, "")

	// confirm-rollout holds the start: the canary is not even scaled up.
	waitPhase(t, state, "podinfo", v1beta1.PhaseWaiting, 30*time.Second)
	holds(t, state, startP, "gate", []v1beta1.CanaryPhase{v1beta1.PhaseWaiting}, 0)
	if !hasEventWith(t, state, "podinfo", "start-gate", "403") {
		t.Errorf("no event names the closed start gate: %v", canaryEvents(t, state, "podinfo"))
	}
	openGate(t, startURL, "/gate/open")

	// confirm-traffic-increase holds every step, the first (0 to 20)
	// included, as Flagger's does.
	waitPhase(t, state, "podinfo", v1beta1.PhaseProgressing, 30*time.Second)
	holds(t, state, stepP, "gate", []v1beta1.CanaryPhase{v1beta1.PhaseProgressing}, 0)
	if !hasEventWith(t, state, "podinfo", "step-gate", "403") {
		t.Errorf("no event names the closed step gate")
	}
	openGate(t, stepURL, "/gate/open")

	// confirm-promotion holds at the maximum weight, while the analysis
	// goes on.
	waitFor(t, time.Minute, "weight 60", func() bool {
		c, _ := canaryOf(t, state, "podinfo")
		return c.Status.CanaryWeight == 60
	})
	// Each step asked the step gate: 0 to 20, 20 to 40 and 40 to 60.
	if n := countLines(stepP.out.String(), `"msg":"gate checked"`, `"open":true`); n < 3 {
		t.Errorf("the step gate was asked %d times once open, want once per step", n)
	}
	holds(t, state, promoP, "gate", []v1beta1.CanaryPhase{v1beta1.PhaseProgressing, v1beta1.PhaseWaitingPromotion}, 60)
	openGate(t, promoURL, "/gate/open")
	waitPhase(t, state, "podinfo", v1beta1.PhaseSucceeded, time.Minute)

	// The acceptance test ran, blocking; the load ran in the background,
	// started once although the hook was called at every tick.
	for _, cmd := range []string{"hey -n 20 -c 2", "hey -z 1m -q 10 -c 2"} {
		if n := countLines(startP.out.String(), `"msg":"task starting"`, cmd); n != 1 {
			t.Errorf("%q started %d times, want once", cmd, n)
		}
	}
	if countLines(startP.out.String(), `"msg":"task already running"`) == 0 {
		t.Error("the rollout hook was not called again while its load ran")
	}
	// The load reached the canary: each step's metric check counted its
	// requests, and the canary's golden metrics show them.
	var counted []int
	for _, e := range canaryEvents(t, state, "podinfo") {
		if strings.Contains(e.Message, "Advance podinfo.test canary weight") {
			for _, m := range samples.FindAllStringSubmatch(e.Message, -1) {
				n, _ := strconv.Atoi(m[1])
				counted = append(counted, n)
			}
		}
	}
	if len(counted) == 0 || counted[len(counted)-1] == 0 {
		t.Errorf("the metric checks counted %v requests of the canary, want the load's", counted)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := local.NewClient(state).Stats(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Name == "podinfo" && (!s.HasTraffic || s.Stats.RPS <= 0) {
			t.Errorf("the canary's golden metrics show no traffic: %+v", s)
		}
	}

	// post-rollout ran once, after the promotion.
	waitFor(t, 10*time.Second, "the post-rollout hook", func() bool { return len(recv.requests(t, "/post-rollout")) > 0 })
	assertOnce(t, recv, "/post-rollout")

	// The event webhook got every event, with Flagger's payload.
	checkEventHook(t, recv, state, "podinfo")
}

// assertOnce checks that path got one request, and no other over the
// next ticks.
func assertOnce(t *testing.T, recv *receiver, path string) {
	t.Helper()
	time.Sleep(2 * time.Second) // two intervals: a second call would have come
	if n := len(recv.requests(t, path)); n != 1 {
		t.Errorf("%s got %d calls, want 1", path, n)
	}
}

// checkEventHook checks that every event of the Canary reached the event
// webhook with Flagger's payload and the webhook's type.
func checkEventHook(t *testing.T, recv *receiver, state, name string) {
	t.Helper()
	got := map[string]bool{}
	for _, r := range recv.requests(t, "/events") {
		var p hooks.Payload
		if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
			t.Fatalf("event payload %q: %v", r.Body, err)
		}
		md := p.Metadata
		// A new Canary has no phase yet while it initialises.
		noPhase := p.Phase == "" && !strings.HasPrefix(md["eventMessage"], "Initializing")
		if p.Name != name || p.Namespace != "test" || noPhase || md["eventMessage"] == "" ||
			(md["eventType"] != "Normal" && md["eventType"] != "Warning") {
			t.Errorf("event payload = %+v", p)
		}
		if ms, err := strconv.ParseInt(md["timestamp"], 10, 64); err != nil || time.Since(time.UnixMilli(ms)) > 10*time.Minute {
			t.Errorf("event timestamp %q is not recent Unix milliseconds", md["timestamp"])
		}
		if r.Header.Get(hooks.TypeHeader) != "event" {
			t.Errorf("event call with %s %q", hooks.TypeHeader, r.Header.Get(hooks.TypeHeader))
		}
		got[md["eventMessage"]] = true
	}
	waitFor(t, 10*time.Second, "every event at the event webhook", func() bool {
		for _, r := range recv.requests(t, "/events") {
			var p hooks.Payload
			_ = json.Unmarshal([]byte(r.Body), &p)
			got[p.Metadata["eventMessage"]] = true
		}
		for _, e := range canaryEvents(t, state, name) {
			if !got[e.Message] {
				return false
			}
		}
		return true
	})
}

// TestHooksRollback opens a loadtester's rollback gate mid-analysis: the
// release rolls back at the next tick, and the post-rollout hook runs once
// after the rollback.
func TestHooksRollback(t *testing.T) {
	bin := serin(t)
	recv := startReceiver(t)
	lt, _ := startLoadtester(t, bin)
	port := freePort(t)
	analysis := fmt.Sprintf(`    interval: 1s
    threshold: 5
    maxWeight: 90
    stepWeight: 10
%[4]s    webhooks:
      - name: load
        type: rollout
        url: %[1]s/
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 http://127.0.0.1:%[3]d/"
      - name: abort-switch
        type: rollback
        url: %[1]s/rollback/check
`, lt, recv.URL, port, successRate) + afterHooks(lt, recv.URL)
	state := releasePodinfo(t, bin, port, analysis, "")
	waitFor(t, time.Minute, "weight 20", func() bool {
		c, _ := canaryOf(t, state, "podinfo")
		return c.Status.CanaryWeight >= 20
	})
	advances := func() int {
		n := 0
		for _, e := range canaryEvents(t, state, "podinfo") {
			if strings.Contains(e.Message, "canary weight") {
				n++
			}
		}
		return n
	}
	before := advances()
	openGate(t, lt, "/rollback/open")
	c := waitPhase(t, state, "podinfo", v1beta1.PhaseFailed, 30*time.Second)
	// At most a tick already under way when the gate opened advanced.
	if n := advances() - before; n > 1 {
		t.Errorf("%d more steps after the rollback gate opened, want the next tick to roll back", n)
	}
	if c.Status.CanaryWeight != 0 {
		t.Errorf("weight after the rollback = %d, want 0", c.Status.CanaryWeight)
	}
	if !hasEventWith(t, state, "podinfo", "abort-switch") {
		t.Errorf("no event names the rollback webhook: %v", canaryEvents(t, state, "podinfo"))
	}
	waitFor(t, 10*time.Second, "the post-rollout hook", func() bool { return len(recv.requests(t, "/post-rollout")) > 0 })
	assertOnce(t, recv, "/post-rollout")
	checkEventHook(t, recv, state, "podinfo")
}

// TestHooksPreRolloutFails: an acceptance test that fails counts a failed
// check at each tick and rolls back at the threshold, before any traffic
// reaches the canary.
func TestHooksPreRolloutFails(t *testing.T) {
	bin := serin(t)
	lt, _ := startLoadtester(t, bin)
	port := freePort(t)
	analysis := fmt.Sprintf(`    interval: 1s
    threshold: 3
    stepWeight: 10
    webhooks:
      - name: acceptance
        type: pre-rollout
        url: %s/
        timeout: 30s
        metadata:
          cmd: "hey -n 2 -c 1 -t 1 http://127.0.0.1:%d/"
`, lt, freePort(t))
	state := releasePodinfo(t, bin, port, analysis, "")
	c := waitPhase(t, state, "podinfo", v1beta1.PhaseFailed, time.Minute)
	if c.Status.FailedChecks != 3 {
		t.Errorf("failed checks = %d, want the threshold 3", c.Status.FailedChecks)
	}
	for _, e := range canaryEvents(t, state, "podinfo") {
		if strings.Contains(e.Message, "canary weight") {
			t.Errorf("the canary got traffic before its acceptance test passed: %s", e.Message)
		}
	}
	for _, n := range []string{"1/3", "2/3"} {
		if !hasEventWith(t, state, "podinfo", "acceptance", "status 500", "no request to", "failed check "+n) {
			t.Errorf("no event for failed check %s naming the webhook and the load error: %v", n, canaryEvents(t, state, "podinfo"))
		}
	}
}

// TestHooksDoNotStallOthers runs three Canaries in one serin run: one
// whose confirm-rollout webhook hangs, one whose pre-rollout webhooks
// answer 503 (retried) and refuse connections, and a healthy one, which is
// promoted while the first is still held and the second rolls back.
func TestHooksDoNotStallOthers(t *testing.T) {
	bin := serin(t)
	recv := startReceiver(t)
	lt, _ := startLoadtester(t, bin)
	dir, state := t.TempDir(), t.TempDir()
	ports := map[string]int{"healthy": freePort(t), "stuck": freePort(t), "flaky": freePort(t)}
	analyses := map[string]string{
		"healthy": fmt.Sprintf(`    interval: 1s
    threshold: 2
    stepWeight: 50
    webhooks:
      - name: approve
        type: confirm-rollout
        url: %s/gate/approve
      - name: load
        url: %[1]s/
        metadata:
          cmd: "hey -z 20s -q 5 -c 1 http://127.0.0.1:%d/"
`, lt, ports["healthy"]),
		"stuck": fmt.Sprintf(`    interval: 1s
    threshold: 2
    stepWeight: 50
    webhooks:
      - name: hangs
        type: confirm-rollout
        url: %s/hang
        timeout: 3s
        retries: 1
`, recv.URL),
		"flaky": fmt.Sprintf(`    interval: 1s
    threshold: 2
    stepWeight: 50
    webhooks:
      - name: unavailable
        type: pre-rollout
        url: %s/status/503
        retries: 2
      - name: refused
        type: pre-rollout
        url: http://127.0.0.1:%d/
`, recv.URL, freePort(t)),
	}
	var args []string
	for _, name := range []string{"healthy", "stuck", "flaky"} {
		args = append(args, "-f", writeFile(t, dir, name+".yaml",
			appNamed(name, ports[name])+"---\n"+canaryNamed(name, ports[name], analyses[name])))
	}
	start(t, bin, append(append([]string{"run"}, args...), "--state-dir", state)...)
	for name := range ports {
		waitPhase(t, state, name, v1beta1.PhaseInitialized, time.Minute)
	}
	for name := range ports {
		if out, err := cli(t, bin, state, "set", "image", "deployment/"+name, "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
			t.Fatalf("set image %s: %v\n%s", name, err, out)
		}
	}
	// healthy is promoted while stuck's tick hangs on its webhook (the
	// tick, a call and a retry of 3s each, writes Waiting at its end).
	waitFor(t, 30*time.Second, "a call of the hanging webhook", func() bool { return len(recv.requests(t, "/hang")) > 0 })
	waitPhase(t, state, "healthy", v1beta1.PhaseSucceeded, time.Minute)
	if c, _ := canaryOf(t, state, "stuck"); c.Status.Phase != v1beta1.PhaseInitialized && c.Status.Phase != v1beta1.PhaseWaiting {
		t.Errorf("stuck: phase %s when healthy was promoted, want it held by its hanging webhook", c.Status.Phase)
	}
	waitFor(t, 30*time.Second, "an event naming the hanging webhook's timeout", func() bool {
		return hasEventWith(t, state, "stuck", "hangs", "no reply within 3s", "after 1 retries")
	})

	c := waitPhase(t, state, "flaky", v1beta1.PhaseFailed, time.Minute)
	if c.Status.FailedChecks != 2 {
		t.Errorf("flaky: failed checks = %d, want the threshold 2", c.Status.FailedChecks)
	}
	for _, want := range [][]string{{"unavailable", "status 503", "after 2 retries"}, {"refused", "connection refused"}} {
		if !hasEventWith(t, state, "flaky", want...) {
			t.Errorf("flaky: no event with %q: %v", want, canaryEvents(t, state, "flaky"))
		}
	}
	if n := len(recv.requests(t, "/status/503")); n < 6 || n%3 != 0 {
		t.Errorf("the 503 webhook got %d calls, want 3 (a call and 2 retries) per check", n)
	}
}
