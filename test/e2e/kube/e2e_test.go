package kube

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
)

const (
	image170 = "quay.io/stefanprodan/podinfo:1.7.0"
	image171 = "quay.io/stefanprodan/podinfo:1.7.1"
)

// release is the walkthrough's Canary with shorter times, so that a release
// takes seconds: a 2s interval (below Kubernetes' 10s minimum, which the
// test lowers) and metrics over 10s.
func release(t *testing.T, ns, provider string) *v1beta1.Canary {
	c := loadCanary(t, ns)
	c.Spec.Provider = provider
	c.Spec.Analysis.Interval = "2s"
	for i := range c.Spec.Analysis.Metrics {
		c.Spec.Analysis.Metrics[i].Interval = "10s"
	}
	c.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	return c
}

// env is one subtest's namespace with the demo, an exporter playing the
// mesh, a Prometheus scraping it and the controller.
type env struct {
	cluster *testenv.Cluster
	cl      client.Client
	ns      string
	mesh    *mesh
	prom    *testenv.Prometheus
	ctrl    *controller
	opts    kube.Options
	route   func(ctx context.Context) (int, int, error)
}

func setup(t *testing.T, cluster *testenv.Cluster, ns string, httpRoute bool) *env {
	e := setupMesh(t, cluster, ns, httpRoute)
	e.ctrl = startController(t, cluster.RESTConfig(), e.opts)
	return e
}

// setupMesh is setup without the controller, for tests that change its
// options before they start it.
func setupMesh(t *testing.T, cluster *testenv.Cluster, ns string, httpRoute bool) *env {
	e := &env{cluster: cluster, cl: cluster.Client(), ns: ns}
	applyExample(t, e.cl, ns)
	e.route = trafficSplitWeights(e.cl, ns, "podinfo")
	if httpRoute {
		e.route = httpRouteWeights(e.cl, ns, "podinfo")
	}
	e.mesh = startMesh(t, ns, "podinfo", e.route)
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr}, time.Second)
	e.opts = kube.Options{MeshProvider: "linkerd", MetricsServer: e.prom.URL}
	return e
}

// initialize applies the Canary and waits until it is Initialized.
func (e *env) initialize(t *testing.T, c *v1beta1.Canary) {
	t.Helper()
	if err := e.cl.Create(t.Context(), c); err != nil {
		t.Fatalf("create canary: %v", err)
	}
	waitPhase(t, e.cl, e.ns, c.Name, v1beta1.PhaseInitialized, 2*time.Minute, v1beta1.PhaseFailed)
}

func TestKubernetes(t *testing.T) {
	cluster := startCluster(t)

	t.Run("walkthrough with an SMI TrafficSplit", func(t *testing.T) {
		e := setup(t, cluster, "test", false)
		ctx := t.Context()
		e.initialize(t, release(t, e.ns, ""))
		checkInitialized(t, e)

		weights := recordWeights(t, e.route)
		start := time.Now()
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		waitRelease(t, e)
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		t.Logf("promoted %s after set image", time.Since(start).Round(time.Second))
		checkPromoted(t, e, image171)
		checkSteps(t, weights)

		// A bad release: the new revision fails 20% of its requests.
		e.mesh.setCanary(behaviour{ErrorRate: 0.2, LatencyMS: 4})
		weights = recordWeights(t, e.route)
		sent0, failed0 := e.mesh.counts("podinfo")
		start = time.Now()
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image170)
		waitRelease(t, e)
		c := waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 3*time.Minute, v1beta1.PhaseSucceeded)
		sent, failed := e.mesh.counts("podinfo")
		t.Logf("rolled back %s after set image; canary weights seen: %v; canary requests %d, failed %d; %s",
			time.Since(start).Round(time.Second), weights.seen(), sent-sent0, failed-failed0, c.Status.Message)
		checkRolledBack(t, e, image171)
		if got := slices.Max(weights.seen()); got >= 100 {
			t.Errorf("bad release reached weight %d", got)
		}
		checkEvents(t, e, "podinfo")
		_ = ctx
	})

	t.Run("sequential judge with its defaults stops a crash within seconds", func(t *testing.T) {
		// The walkthrough's Canary unchanged (10s steps, metrics over 1m)
		// but for judge: {type: sequential}: it judges every 2s.
		e := setup(t, cluster, "crash", false)
		c := loadCanary(t, e.ns)
		c.Spec.Analysis.Judge = &v1beta1.JudgeSpec{Type: v1beta1.JudgeSequential}
		e.initialize(t, c)

		e.mesh.setCanary(behaviour{ErrorRate: 1, LatencyMS: 4})
		sent0, failed0 := e.mesh.counts("podinfo")
		start := time.Now()
		stopTimeline := logTimeline(t, e, start)
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		waitRelease(t, e)
		c = waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 2*time.Minute, v1beta1.PhaseSucceeded)
		stopTimeline()
		sent, failed := e.mesh.counts("podinfo")
		t.Logf("rolled back %s after set image; canary served %d requests, %d failed; %s",
			time.Since(start).Round(time.Second), sent-sent0, failed-failed0, c.Status.Message)
		// At 10 RPS the canary's first step gets about one request a
		// second: six failed requests is six seconds of it.
		if n := failed - failed0; n > 6 {
			t.Errorf("%d requests failed on the canary before the rollback, want at most 6", n)
		}
		checkRolledBack(t, e, image170)
	})

	t.Run("Gateway API HTTPRoute", func(t *testing.T) {
		e := setup(t, cluster, "gateway", true)
		e.initialize(t, release(t, e.ns, "gatewayapi:v1"))
		weights := recordWeights(t, e.route)
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		waitRelease(t, e)
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		checkPromoted(t, e, image171)
		t.Logf("canary weights seen in the HTTPRoute: %v", weights.seen())
		checkSteps(t, weights)
	})

	t.Run("controller restarted mid-release resumes at the same weight", func(t *testing.T) {
		e := setup(t, cluster, "restart", false)
		e.initialize(t, release(t, e.ns, ""))
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		waitWeight(t, e, 30)
		e.ctrl.stop()
		c, err := getCanary(t.Context(), e.cl, e.ns, "podinfo")
		if err != nil {
			t.Fatal(err)
		}
		at := c.Status.CanaryWeight
		_, routed, err := e.route(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// A tick cut short between setting the route and writing the
		// status leaves the route one step ahead.
		if routed != at && routed != at+c.Spec.Analysis.StepWeight {
			t.Fatalf("stopped with status weight %d but route weight %d", at, routed)
		}
		t.Logf("controller stopped at weight %d (route %d)", at, routed)

		weights := recordWeights(t, e.route)
		e.ctrl = startController(t, e.cluster.RESTConfig(), e.opts)
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		seen := weights.seen()
		t.Logf("after the restart: %v", seen)
		if len(seen) == 0 || seen[0] < at {
			t.Errorf("weights after the restart = %v, want them to resume at %d", seen, at)
		}
		for i := 1; i < len(seen) && seen[i] != 0; i++ {
			if seen[i] < seen[i-1] {
				t.Errorf("weight fell from %d to %d after the restart: %v", seen[i-1], seen[i], seen)
			}
		}
		checkPromoted(t, e, image171)
	})

	t.Run("Prometheus down mid-release halts advancement", func(t *testing.T) {
		e, blind, weights := blindRelease(t, cluster, "blind", 15*time.Second)
		c := waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 2*time.Minute, v1beta1.PhaseSucceeded)
		t.Logf("blind at weight %d; weights seen since: %v; %s", blind.Status.CanaryWeight, weights.seen(), c.Status.Message)
		checkHeld(t, weights.seen(), blind)
		checkRolledBack(t, e, image170)
	})
}

// blindRelease starts a release with the given progress deadline in a new
// namespace, waits for weight 20 and stops Prometheus. It returns the
// Canary as it was when it went blind, and the weights of its route from
// then on.
func blindRelease(t *testing.T, cluster *testenv.Cluster, ns string, deadline time.Duration) (*env, *v1beta1.Canary, *recorder[int]) {
	t.Helper()
	e := setup(t, cluster, ns, false)
	c := release(t, e.ns, "")
	c.Spec.ProgressDeadlineSeconds = ptr.To(int32(deadline / time.Second))
	e.initialize(t, c)
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitWeight(t, e, 20)
	e.prom.Stop()
	c, err := getCanary(t.Context(), e.cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	return e, c, recordWeights(t, e.route)
}

// checkHeld checks that no weight seen rose more than one step above the
// weight at which the release went blind: one tick may have queried
// Prometheus before it stopped.
func checkHeld(t *testing.T, seen []int, blind *v1beta1.Canary) {
	t.Helper()
	at := blind.Status.CanaryWeight
	for _, w := range seen {
		if w > at+blind.Spec.Analysis.StepWeight {
			t.Errorf("weight rose to %d while Prometheus was down (blind at %d): %v", w, at, seen)
		}
	}
}

// waitRelease waits until the controller has seen the new revision and
// started its analysis.
func waitRelease(t *testing.T, e *env) {
	t.Helper()
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseProgressing, time.Minute)
}

// waitWeight waits until the Canary's status weight reaches at least w.
func waitWeight(t *testing.T, e *env, w int) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, "canary weight", func(ctx context.Context) (bool, error) {
		c, err := getCanary(ctx, e.cl, e.ns, "podinfo")
		if err != nil {
			return false, err
		}
		if c.Status.Phase == v1beta1.PhaseFailed {
			t.Fatalf("canary failed: %s", c.Status.Message)
		}
		return c.Status.CanaryWeight >= w, nil
	})
}

// checkInitialized checks the objects the walkthrough's step 4 shows.
func checkInitialized(t *testing.T, e *env) {
	t.Helper()
	ctx := t.Context()
	img, replicas, err := image(ctx, e.cl, e.ns, "podinfo-primary", "podinfod")
	if err != nil {
		t.Fatalf("primary: %v", err)
	}
	if img != image170 || replicas != 1 {
		t.Errorf("primary runs %s with %d replicas, want %s with 1", img, replicas, image170)
	}
	testenv.Eventually(t, 30*time.Second, "target scaled to zero", func(ctx context.Context) (bool, error) {
		_, n, err := image(ctx, e.cl, e.ns, "podinfo", "podinfod")
		return err == nil && n == 0, err
	})
	for svc, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		s := &corev1.Service{}
		if err := e.cl.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: svc}, s); err != nil {
			t.Errorf("service %s: %v", svc, err)
			continue
		}
		if got := s.Spec.Selector["app"]; got != sel {
			t.Errorf("service %s selects app=%s, want app=%s", svc, got, sel)
		}
		if len(s.Spec.Ports) == 0 || s.Spec.Ports[0].Port != 9898 {
			t.Errorf("service %s ports = %v, want 9898", svc, s.Spec.Ports)
		}
	}
	if p, c, err := e.route(ctx); err != nil || p != 100 || c != 0 {
		t.Errorf("route = %d/%d (%v), want 100/0", p, c, err)
	}
}

// checkSteps checks the canary's weight rose in steps of 10 to 100 and
// went back to 0.
func checkSteps(t *testing.T, weights *recorder[int]) {
	t.Helper()
	weights.stopAt(t, 0) // the route reads 0 by now
	seen := weights.seen()
	var rising []int
	for _, w := range seen {
		if w > 0 {
			rising = append(rising, w)
		}
	}
	if len(rising) < 5 {
		t.Fatalf("weights seen %v: want the canary's weight to rise in steps", seen)
	}
	for i := 1; i < len(rising); i++ {
		if rising[i] < rising[i-1] {
			t.Errorf("weight fell from %d to %d during the analysis: %v", rising[i-1], rising[i], seen)
		}
		if rising[i]-rising[i-1] > 10 {
			t.Errorf("weight jumped from %d to %d: %v", rising[i-1], rising[i], seen)
		}
	}
	if seen[len(seen)-1] != 0 {
		t.Errorf("last weight %d, want 0 (all traffic to the promoted primary): %v", seen[len(seen)-1], seen)
	}
}

// checkPromoted checks the primary runs img and the target is scaled to
// zero with all traffic on the primary.
func checkPromoted(t *testing.T, e *env, img string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "promoted primary and idle target", func(ctx context.Context) (bool, error) {
		got, _, err := image(ctx, e.cl, e.ns, "podinfo-primary", "podinfod")
		if err != nil || got != img {
			return false, err
		}
		_, n, err := image(ctx, e.cl, e.ns, "podinfo", "podinfod")
		if err != nil || n != 0 {
			return false, err
		}
		p, c, err := e.route(ctx)
		return err == nil && p == 100 && c == 0, err
	})
	waitDeploymentReady(t, e.cl, e.ns, "podinfo-primary")
}

// checkRolledBack checks all traffic is on the primary, which still runs
// img, and the target is scaled to zero.
func checkRolledBack(t *testing.T, e *env, img string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "rolled back", func(ctx context.Context) (bool, error) {
		p, c, err := e.route(ctx)
		if err != nil || p != 100 || c != 0 {
			return false, err
		}
		_, n, err := image(ctx, e.cl, e.ns, "podinfo", "podinfod")
		return err == nil && n == 0, err
	})
	got, _, err := image(t.Context(), e.cl, e.ns, "podinfo-primary", "podinfod")
	if err != nil || got != img {
		t.Errorf("primary runs %s (%v), want %s", got, err, img)
	}
}

// checkEvents checks the Canary's decisions were recorded as Kubernetes
// Events, warnings among them for the rollback.
func checkEvents(t *testing.T, e *env, name string) {
	t.Helper()
	var normal, warning int
	testenv.Eventually(t, 10*time.Second, "events", func(ctx context.Context) (bool, error) {
		list := &corev1.EventList{}
		if err := e.cl.List(ctx, list, client.InNamespace(e.ns)); err != nil {
			return false, err
		}
		normal, warning = 0, 0
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind != "Canary" || ev.InvolvedObject.Name != name {
				continue
			}
			if ev.Type == corev1.EventTypeWarning {
				warning++
			} else {
				normal++
			}
		}
		return normal > 0 && warning > 0, nil
	})
	t.Logf("canary events: %d normal, %d warning", normal, warning)
}
