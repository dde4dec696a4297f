package kube

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

var outage = flag.Duration("reliability.outage", 20*time.Second,
	"how long Prometheus is down in TestReliability (docs/reliability.md: 2m)")

// TestReliability breaks what a release depends on in its middle and
// checks that nothing unsafe happens while it is broken and that the
// release finishes once it is back (docs/reliability.md):
//
//	go test ./test/e2e/kube/ -run TestReliability -reliability.outage=2m -v
func TestReliability(t *testing.T) {
	cluster := startCluster(t)

	t.Run("Prometheus down mid-release", func(t *testing.T) {
		// The deadline outlasts the outage: a blind release holds.
		e, blind, weights := blindRelease(t, cluster, "outage", *outage+time.Minute)
		phases := recordPhases(t, e)
		down := time.Now()
		testenv.Eventually(t, *outage+time.Minute, "the outage to pass", func(context.Context) (bool, error) {
			return time.Since(down) >= *outage, nil
		})
		seen, during := weights.seen(), phases.seen()
		checkHeld(t, seen, blind)
		for _, p := range during {
			if p != v1beta1.PhaseProgressing {
				t.Errorf("phase %s while Prometheus was down: %v", p, during)
			}
		}
		t.Logf("blind at weight %d for %s; weights %v, phases %v", blind.Status.CanaryWeight, *outage, seen, during)

		e.prom.Start()
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		checkPromoted(t, e, image171)
	})

	t.Run("API server restarted mid-release", func(t *testing.T) {
		e := setup(t, cluster, "apiserver", false)
		e.initialize(t, release(t, e.ns, ""))
		weights := recordWeights(t, e.route)
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
		waitWeight(t, e, 30)
		restart := time.Now()
		cluster.RestartAPIServer(t)
		t.Logf("kube-apiserver restarted in %s", time.Since(restart).Round(time.Millisecond))
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		checkPromoted(t, e, image171)
		// The recorder cannot read the route while the API server is down,
		// so a step may be missing from what it saw; none may go back.
		seen := weights.seen()
		for i := 1; i < len(seen)-1; i++ {
			if seen[i] < seen[i-1] {
				t.Errorf("weight fell from %d to %d: %v", seen[i-1], seen[i], seen)
			}
		}
		t.Logf("weights seen: %v", seen)
		checkOnceEach(t, e, "podinfo")
	})
}

// checkOnceEach checks that the Canary's release took each of its actions
// once: one Event per weight step and one promotion, none counted twice.
func checkOnceEach(t *testing.T, e *env, name string) {
	t.Helper()
	list := &corev1.EventList{}
	if err := e.cl.List(t.Context(), list, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	steps := map[string]int32{}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Kind != "Canary" || ev.InvolvedObject.Name != name {
			continue
		}
		for _, prefix := range []string{"Advance ", "Copying ", "Promotion completed"} {
			if !strings.HasPrefix(ev.Message, prefix) {
				continue
			}
			// "Advance podinfo.ns canary weight 30: ..." counts by its step.
			key, _, _ := strings.Cut(ev.Message, ":")
			steps[key] += max(ev.Count, 1)
		}
	}
	if len(steps) < 3 {
		t.Fatalf("events of the release: %v, want its steps and its promotion", steps)
	}
	for key, n := range steps {
		if n != 1 {
			t.Errorf("%q recorded %d times, want once", key, n)
		}
	}
}

// recordPhases records the phases of e's Canary until the test ends.
func recordPhases(t *testing.T, e *env) *recorder[v1beta1.CanaryPhase] {
	return record(t, func(ctx context.Context) (v1beta1.CanaryPhase, error) {
		c, err := getCanary(ctx, e.cl, e.ns, "podinfo")
		if err != nil {
			return "", err
		}
		return c.Status.Phase, nil
	})
}
