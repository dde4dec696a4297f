package kube

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/svcnames"
	"github.com/serinhq/serin/internal/testenv"
)

// eventsOf returns the messages of the Kubernetes Events of Canary ns/name.
func eventsOf(ctx context.Context, cl client.Client, ns, name string) ([]string, error) {
	list := &corev1.EventList{}
	if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Kind == "Canary" && ev.InvolvedObject.Name == name {
			out = append(out, ev.Message)
		}
	}
	return out, nil
}

// waitEvent waits for an Event of Canary ns/name whose message holds
// every one of subs.
func waitEvent(t *testing.T, cl client.Client, ns, name string, subs ...string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("an event of %s/%s with %q", ns, name, subs), func(ctx context.Context) (bool, error) {
		msgs, err := eventsOf(ctx, cl, ns, name)
		if err != nil {
			return false, err
		}
		found := slices.ContainsFunc(msgs, func(m string) bool {
			for _, s := range subs {
				if !strings.Contains(m, s) {
					return false
				}
			}
			return true
		})
		// The last error names the events seen when it times out.
		return found, fmt.Errorf("events: %q", msgs)
	})
}

// ticks counts the controller's ticks of Canary ns/podinfo, from its
// serin_canary_duration_seconds histogram.
func (c *controller) ticks(t *testing.T, ns string) uint64 {
	t.Helper()
	mfs, err := c.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "serin_canary_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && labels["name"] == "podinfo" {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// createCanary creates a Canary and waits until it is Initialized.
func createCanary(t *testing.T, cl client.Client, c *v1beta1.Canary) {
	t.Helper()
	if err := cl.Create(t.Context(), c); err != nil {
		t.Fatalf("create canary %s/%s: %v", c.Namespace, c.Name, err)
	}
	waitPhase(t, cl, c.Namespace, c.Name, v1beta1.PhaseInitialized, 2*time.Minute, v1beta1.PhaseFailed)
}

// held waits until a loadtester has answered n more checks of a gate of
// Canary ns/podinfo closed, and checks that the Canary's weight and its
// route's canary weight stayed as they were when the first of them was
// answered, the release neither promoted nor rolled back. It returns the
// Canary as it was at the last check, for its phase.
func held(t *testing.T, e *env, lt *process, gate string, n int) *v1beta1.Canary {
	t.Helper()
	ctx := t.Context()
	first := gateChecks(lt, gate, e.ns, false) + 1
	testenv.Eventually(t, time.Minute, "a closed "+gate+" check", func(context.Context) (bool, error) {
		return gateChecks(lt, gate, e.ns, false) >= first, nil
	})
	before, err := getCanary(ctx, e.cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d more closed %s checks", n, gate), func(context.Context) (bool, error) {
		return gateChecks(lt, gate, e.ns, false) >= first+n, nil
	})
	after, err := getCanary(ctx, e.cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	_, routed, err := e.route(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status.CanaryWeight != before.Status.CanaryWeight || routed != after.Status.CanaryWeight ||
		after.Status.Phase == v1beta1.PhaseFailed || after.Status.Phase == v1beta1.PhaseSucceeded {
		t.Fatalf("while gate %q was closed: %s at weight %d became %s at weight %d (route %d), want it held",
			gate, before.Status.Phase, before.Status.CanaryWeight, after.Status.Phase, after.Status.CanaryWeight, routed)
	}
	return after
}

// TestKubernetesHooks runs, on the test cluster, the hook types that
// TestKubernetesWebhooksAndAlerts does not, with the webhooks served by
// real `serin loadtester` processes and a receiver process.
func TestKubernetesHooks(t *testing.T) {
	cluster := startCluster(t)
	bin := buildSerin(t)
	recv := startReceiverProcess(t)

	t.Run("confirm-traffic-increase holds each step, rollback rolls back at the next tick, post-rollout runs once", func(t *testing.T) {
		lt, ltP := startServer(t, bin, "/healthz", "loadtester")
		e := setup(t, cluster, "gates", false)
		ctx := t.Context()
		c := release(t, e.ns, "")
		c.Spec.Analysis.StepWeight = 20
		c.Spec.Analysis.MaxWeight = 80
		c.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{
			{Name: "step-gate", Type: v1beta1.ConfirmTrafficIncreaseHook, URL: lt + "/gate/check"},
			{Name: "abort", Type: v1beta1.RollbackHook, URL: lt + "/rollback/check"},
			{Name: "notify", Type: v1beta1.PostRolloutHook, URL: lt + "/",
				Metadata: map[string]string{"cmd": "hey -n 1 -c 1 " + recv + "/gates/post-rollout"}},
		}
		e.initialize(t, c)
		weights := recordWeights(t, e.route)
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)

		// The first step (0 to 20) is held, as Flagger holds it.
		waitRelease(t, e)
		if got := held(t, e, ltP, "gate", 2); got.Status.CanaryWeight != 0 || got.Status.Phase != v1beta1.PhaseProgressing {
			t.Fatalf("held at the first step: %s at weight %d, want Progressing at 0", got.Status.Phase, got.Status.CanaryWeight)
		}
		waitEvent(t, e.cl, e.ns, "podinfo", "step-gate", "403")
		openGate(t, lt, e.ns)
		waitWeight(t, e, 40)
		// Each step asked the gate: 0 to 20 and 20 to 40 at least.
		if n := gateChecks(ltP, "gate", e.ns, true); n < 2 {
			t.Errorf("the step gate was asked %d times once open, want once per step", n)
		}
		// Closed again, it holds a later step.
		setGate(t, lt, "/gate/close", e.ns)
		at := held(t, e, ltP, "gate", 2)
		if at.Status.CanaryWeight < 40 || at.Status.CanaryWeight >= 80 {
			t.Fatalf("held at weight %d, want a step between 40 and 80", at.Status.CanaryWeight)
		}

		// The rollback gate, opened mid-analysis, rolls back at the first
		// tick that asks it.
		setGate(t, lt, "/rollback/open", e.ns)
		got := waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, time.Minute, v1beta1.PhaseSucceeded)
		if n := gateChecks(ltP, "rollback", e.ns, true); n != 1 {
			t.Errorf("the rollback gate was asked %d times once open, want the first tick after to roll back", n)
		}
		if got.Status.CanaryWeight != 0 {
			t.Errorf("weight after the rollback = %d, want 0", got.Status.CanaryWeight)
		}
		checkRolledBack(t, e, image170)
		waitEvent(t, e.cl, e.ns, "podinfo", "Rolling back", "abort")
		if w := slices.Max(weights.seen()); w > at.Status.CanaryWeight {
			t.Errorf("route weight reached %d, above the held %d: %v", w, at.Status.CanaryWeight, weights.seen())
		}

		// post-rollout ran once after the rollback, and not again at the
		// ticks that followed.
		testenv.Eventually(t, 30*time.Second, "the post-rollout hook's request", func(ctx context.Context) (bool, error) {
			rs, err := requests(ctx, recv, "/gates/post-rollout")
			return len(rs) > 0, err
		})
		n := e.ctrl.ticks(t, e.ns)
		testenv.Eventually(t, 30*time.Second, "two more ticks", func(context.Context) (bool, error) { return e.ctrl.ticks(t, e.ns) >= n+2, nil })
		if rs, err := requests(ctx, recv, "/gates/post-rollout"); err != nil || len(rs) != 1 {
			t.Errorf("post-rollout requests = %d (%v), want 1", len(rs), err)
		}
		if n := strings.Count(ltP.out.String(), `"msg":"task starting","canary":"podinfo.gates","cmd":"hey -n 1`); n != 1 {
			t.Errorf("the post-rollout task started %d times, want once", n)
		}
	})

	t.Run("pre-rollout failing rolls back at the threshold", func(t *testing.T) {
		lt, _ := startServer(t, bin, "/healthz", "loadtester")
		e := setup(t, cluster, "acceptance", false)
		c := release(t, e.ns, "")
		c.Spec.Analysis.Threshold = 3
		// An acceptance test of an address nothing answers at fails.
		c.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{{Name: "acceptance", Type: v1beta1.PreRolloutHook, URL: lt + "/", Timeout: "30s",
			Metadata: map[string]string{"type": "cmd", "cmd": "hey -n 2 -c 1 -t 1 http://" + freeAddr(t) + "/"}}}
		e.initialize(t, c)
		weights := recordWeights(t, e.route)
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		got := waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 2*time.Minute, v1beta1.PhaseSucceeded)
		if got.Status.FailedChecks != 3 {
			t.Errorf("failed checks = %d, want the threshold 3", got.Status.FailedChecks)
		}
		for _, n := range []string{"1/3", "2/3"} {
			waitEvent(t, e.cl, e.ns, "podinfo", "acceptance", "status 500", "no request to", "failed check "+n)
		}
		checkRolledBack(t, e, image170)
		if seen := weights.seen(); len(seen) == 0 || slices.Max(seen) != 0 {
			t.Errorf("route weights %v: the canary got traffic before its acceptance test passed", seen)
		}
		if sent, _ := e.mesh.counts("podinfo"); sent != 0 {
			t.Errorf("the canary served %d requests, want none", sent)
		}
	})

	t.Run("hanging, failing and refused webhooks do not stall another Canary", func(t *testing.T) {
		e := setup(t, cluster, "healthy", false)
		for _, ns := range []string{"stuck", "flaky"} {
			applyExample(t, e.cl, ns)
		}
		healthy := release(t, e.ns, "")
		healthy.Spec.Analysis.StepWeight = 25
		healthy.Spec.Analysis.MaxWeight = 50
		stuck := release(t, "stuck", "")
		stuck.Spec.Analysis.Threshold = 2
		stuck.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{{Name: "hangs", Type: v1beta1.ConfirmRolloutHook,
			URL: recv + "/hang", Timeout: "3s", Retries: 1}}
		flaky := release(t, "flaky", "")
		flaky.Spec.Analysis.Threshold = 2
		flaky.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{
			{Name: "unavailable", Type: v1beta1.PreRolloutHook, URL: recv + "/status/503", Retries: 2},
			{Name: "refused", Type: v1beta1.PreRolloutHook, URL: "http://" + freeAddr(t) + "/"},
		}
		for _, c := range []*v1beta1.Canary{healthy, stuck, flaky} {
			createCanary(t, e.cl, c)
		}
		for _, ns := range []string{"stuck", "flaky", e.ns} {
			setImage(t, e.cl, ns, "podinfo", "podinfod", image171)
		}

		// healthy is promoted while stuck's ticks hang on its webhook.
		testenv.Eventually(t, time.Minute, "a call of the hanging webhook", func(ctx context.Context) (bool, error) {
			rs, err := requests(ctx, recv, "/hang")
			return len(rs) > 0, err
		})
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 2*time.Minute, v1beta1.PhaseFailed)
		checkPromoted(t, e, image171)
		if c, err := getCanary(t.Context(), e.cl, "stuck", "podinfo"); err != nil ||
			(c.Status.Phase != v1beta1.PhaseInitialized && c.Status.Phase != v1beta1.PhaseWaiting) {
			t.Errorf("stuck: phase %s (%v) when healthy was promoted, want it held by its hanging webhook", c.Status.Phase, err)
		}
		waitEvent(t, e.cl, "stuck", "podinfo", "hangs", "no reply within 3s", "after 1 retries")

		c := waitPhase(t, e.cl, "flaky", "podinfo", v1beta1.PhaseFailed, time.Minute, v1beta1.PhaseSucceeded)
		if c.Status.FailedChecks != 2 {
			t.Errorf("flaky: failed checks = %d, want the threshold 2", c.Status.FailedChecks)
		}
		waitEvent(t, e.cl, "flaky", "podinfo", "unavailable", "status 503", "after 2 retries")
		waitEvent(t, e.cl, "flaky", "podinfo", "refused", "connection refused")
		rs, err := requests(t.Context(), recv, "/status/503")
		if err != nil || len(rs) < 6 || len(rs)%3 != 0 {
			t.Errorf("the 503 webhook got %d calls (%v), want 3 (a call and 2 retries) per check", len(rs), err)
		}
	})
}

// serviceNames plays cluster DNS for processes run outside the cluster:
// each Service of namespace ns named in backends, once it exists on the
// cluster, resolves at each of its ports to the address of the process
// that plays its pods.
func serviceNames(t *testing.T, cl client.Client, ns string, backends map[string]string) *svcnames.Table {
	t.Helper()
	tab := &svcnames.Table{}
	for name, addr := range backends {
		s := &corev1.Service{}
		testenv.Eventually(t, time.Minute, "service "+ns+"/"+name, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)
			return err == nil, client.IgnoreNotFound(err)
		})
		for _, p := range s.Spec.Ports {
			tab.Add(svcnames.Name{Service: name, Namespace: ns}, p.Port, addr)
		}
	}
	return tab
}

// readCanary reads the one Canary of a file.
func readCanary(t *testing.T, path string) *v1beta1.Canary {
	t.Helper()
	objs := readManifests(t, path)
	if len(objs) != 1 {
		t.Fatalf("%s holds %d objects, want a Canary", path, len(objs))
	}
	c := &v1beta1.Canary{}
	if err := runtimeConvert(objs[0], c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKubernetesWalkthroughWithLoadtester releases the walkthrough's
// Canary with Flagger's loadtester webhooks, unchanged, under the
// controller: http://flagger-loadtester.test/ is a `serin loadtester`
// process behind the Service deploy/kustomize/loadtester creates, and its
// hey load to http://podinfo-canary.test:9898/ reaches the canary as the
// fake mesh counts it. The controller and the loadtester run outside the
// cluster, which has no DNS: they resolve Service names through a table
// built from the cluster's Services (serviceNames).
func TestKubernetesWalkthroughWithLoadtester(t *testing.T) {
	cluster := startCluster(t)
	bin := buildSerin(t)
	c := readCanary(t, exampleDir+"/canary-webhooks.yaml")
	if flagger := readCanary(t, repoRoot+"/examples/podinfo/canary-webhooks.yaml"); !equality.Semantic.DeepEqual(c.Spec, flagger.Spec) ||
		c.Namespace != flagger.Namespace {
		t.Fatal("examples/podinfo/kubernetes/canary-webhooks.yaml is not examples/podinfo/canary-webhooks.yaml but for the apiVersion")
	}

	// The loadtester reads the names from the file SERIN_SERVICE_NAMES
	// names, again whenever it changes.
	namesFile := filepath.Join(t.TempDir(), "names.json")
	if err := svcnames.WriteFile(namesFile, &svcnames.Table{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(svcnames.EnvVar, namesFile)
	lt, ltP := startServer(t, bin, "/healthz", "loadtester")

	e := setupMesh(t, cluster, c.Namespace, false)
	for _, f := range []string{"deployment.yaml", "service.yaml"} {
		for _, u := range readManifests(t, repoRoot+"/deploy/kustomize/loadtester/"+f) {
			u.SetNamespace(e.ns)
			if err := e.cl.Create(t.Context(), u); err != nil {
				t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
	waitDeploymentReady(t, e.cl, e.ns, "flagger-loadtester")
	canaryAddr := e.mesh.serveCanary(t)
	var names atomic.Pointer[svcnames.Table]
	e.opts.Transport = (&svcnames.Dialer{Table: names.Load}).Transport
	e.ctrl = startController(t, cluster.RESTConfig(), e.opts)
	e.initialize(t, c)

	// podinfo-canary exists once the Canary is initialised.
	tab := serviceNames(t, e.cl, e.ns, map[string]string{
		"flagger-loadtester": strings.TrimPrefix(lt, "http://"),
		"podinfo-canary":     canaryAddr,
	})
	names.Store(tab)
	if err := svcnames.WriteFile(namesFile, tab); err != nil {
		t.Fatal(err)
	}

	weights := recordWeights(t, e.route)
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitRelease(t, e)
	testenv.Eventually(t, 4*time.Minute, "canary weight 100", func(ctx context.Context) (bool, error) {
		got, err := getCanary(ctx, e.cl, e.ns, "podinfo")
		if err == nil && got.Status.Phase == v1beta1.PhaseFailed {
			t.Fatalf("canary failed: %s", got.Status.Message)
		}
		return err == nil && got.Status.CanaryWeight == 100, err
	})
	// The promotion gate holds it at the maximum weight until opened, as
	// the walkthrough opens it.
	if got := held(t, e, ltP, "gate", 2); got.Status.CanaryWeight != 100 ||
		(got.Status.Phase != v1beta1.PhaseProgressing && got.Status.Phase != v1beta1.PhaseWaitingPromotion) {
		t.Fatalf("held: %s at weight %d, want the analysis held at 100", got.Status.Phase, got.Status.CanaryWeight)
	}
	openGate(t, lt, e.ns)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 2*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)
	checkSteps(t, weights)

	// The acceptance test ran once, the load in the background, both
	// through http://podinfo-canary.test:9898/ to the canary.
	out := ltP.out.String()
	for cmd, want := range map[string]int{"hey -n 20 -c 2 http://podinfo-canary.test:9898/": 1, "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/": 0} {
		n := strings.Count(out, `"msg":"task starting","canary":"podinfo.test","cmd":"`+cmd+`"`)
		if n == 0 || (want > 0 && n != want) {
			t.Errorf("%q started %d times, want %s", cmd, n, map[bool]string{true: "once", false: "at least once"}[want > 0])
		}
	}
	if strings.Contains(out, "no such host") || strings.Contains(out, `"msg":"task failed"`) {
		t.Errorf("a loadtester task failed:\n%s", out)
	}
	if n := e.mesh.servedCanary(); n < 20 {
		t.Errorf("the canary's pods got %d requests through podinfo-canary.test:9898, want the acceptance test's 20 and the load", n)
	}
	t.Logf("the canary's pods got %d requests from the loadtester", e.mesh.servedCanary())
}
