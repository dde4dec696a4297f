package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

var (
	kills = flag.Int("reliability.kills", 1,
		"how many releases TestControllerBinaryKilled runs, killing the controller at a random point of each (docs/reliability.md: 20)")
	killSeed = flag.Uint64("reliability.seed", 0,
		"the seed of the random points at which TestControllerBinaryKilled kills the controller; 0 picks one (it is logged)")
)

// TestControllerBinaryKilled runs the `serin controller` binary and, for
// each of -reliability.kills releases, kills it with SIGKILL at a random
// point of the release, starts a new one and checks the release resumes at
// the weight it had reached (not from zero) and is promoted; then stops the
// last controller with SIGTERM and checks it shuts down cleanly.
//
//	go test ./test/e2e/kube/ -run TestControllerBinaryKilled -reliability.kills=20 -v
func TestControllerBinaryKilled(t *testing.T) {
	cluster := startCluster(t)
	bin := buildSerin(t)
	e := &env{cluster: cluster, cl: cluster.Client(), ns: "binary"}
	applyExample(t, e.cl, e.ns)
	e.route = trafficSplitWeights(e.cl, e.ns, "podinfo")
	e.mesh = startMesh(t, e.ns, "podinfo", e.route)
	e.prom = testenv.StartPrometheus(t, []string{e.mesh.addr}, time.Second)

	metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
	args := []string{"controller",
		"--kubeconfig", cluster.Kubeconfig(),
		"--leader-elect=false",
		"--metrics-server", e.prom.URL,
		"--metrics-addr", metricsAddr,
		"--health-addr", healthAddr,
	}
	ctl := startControllerProcess(t, bin, healthAddr, args)

	// The walkthrough's Canary at its own 10s interval (the controller's
	// minimum), in steps of 25 so that a release is short.
	c := loadCanary(t, e.ns)
	c.Spec.Analysis.Interval = "10s"
	c.Spec.Analysis.StepWeight = 25
	c.Spec.Analysis.MaxWeight = 100
	interval := 10 * time.Second
	step, maxWeight := c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight
	e.initialize(t, c)
	checkInitialized(t, e)

	seed := *killSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("%d releases, kill points from seed %d (-reliability.seed=%d)", *kills, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	fromZero := 0
	for i := range *kills {
		// Each release a new image; the kill comes at a random weight
		// step and a random moment of that step's interval.
		img := fmt.Sprintf("quay.io/stefanprodan/podinfo:1.7.%d", i+1)
		target := step * (1 + rng.IntN(maxWeight/step-1))
		delay := time.Duration(rng.Int64N(int64(interval)))
		setImage(t, e.cl, e.ns, "podinfo", "podinfod", img)
		var at int
		testenv.Eventually(t, 2*time.Minute, fmt.Sprintf("release %d: canary weight %d in the TrafficSplit and the status", i+1, target), func(ctx context.Context) (bool, error) {
			_, routed, err := e.route(ctx)
			if err != nil {
				return false, err
			}
			c, err := getCanary(ctx, e.cl, e.ns, "podinfo")
			if err != nil {
				return false, err
			}
			if c.Status.Phase == v1beta1.PhaseFailed {
				t.Fatalf("release %d: canary failed: %s", i+1, c.Status.Message)
			}
			at = c.Status.CanaryWeight
			return c.Status.Phase == v1beta1.PhaseProgressing && routed >= target && at >= target, nil
		})
		time.Sleep(delay) // the random point within the step, not a synchronisation

		if err := ctl.signal(t, syscall.SIGKILL, 10*time.Second); !killedBy(err, syscall.SIGKILL) {
			t.Fatalf("release %d: controller exited with %v, want killed by SIGKILL", i+1, err)
		}
		c, err := getCanary(t.Context(), e.cl, e.ns, "podinfo")
		if err != nil {
			t.Fatal(err)
		}
		_, routed, err := e.route(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		killedAt := c.Status.CanaryWeight
		if killedAt < at {
			t.Fatalf("release %d: status weight %d after the kill, below %d before it", i+1, killedAt, at)
		}
		if c.Status.Phase != v1beta1.PhaseProgressing {
			t.Fatalf("release %d: killed in phase %s, want mid-release (Progressing)", i+1, c.Status.Phase)
		}

		weights := recordWeights(t, e.route)
		ctl = startControllerProcess(t, bin, healthAddr, args)
		waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
		checkPromoted(t, e, img)
		weights.stopAt(t, 0)
		seen := weights.seen()
		t.Logf("release %d: killed %s after weight %d was seen, at status weight %d, route weight %d; route weights since: %v",
			i+1, delay.Round(time.Millisecond), target, killedAt, routed, seen)
		if resumedFromZero(seen, maxWeight) {
			fromZero++
		}
		checkResumed(t, seen, killedAt, maxWeight)
		checkResumedWithin(t, seen, routed, step)
	}
	t.Logf("%d releases killed mid-release: %d promoted, %d restarted from zero", *kills, *kills, fromZero)

	testenv.Eventually(t, 30*time.Second, "canary series in the last controller's /metrics", func(ctx context.Context) (bool, error) {
		code, body, err := httpGet(ctx, "http://"+metricsAddr+"/metrics")
		if err != nil {
			return false, err
		}
		if code != http.StatusOK {
			return false, fmt.Errorf("GET /metrics: status %d: %.500s", code, body)
		}
		labels := fmt.Sprintf(`name="podinfo",namespace=%q`, e.ns)
		weight, okW := sample(body, "serin_canary_weight{"+labels+"}")
		phase, okP := sample(body, "serin_canary_phase{"+labels+`,phase="Succeeded"}`)
		return okW && okP && weight == 0 && phase == 1, nil
	})

	start := time.Now()
	if err := ctl.signal(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("last controller exited with %v after SIGTERM, want status 0", err)
	}
	t.Logf("last controller stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// resumedFromZero says whether the route went back to no canary traffic
// before the canary had all of maxWeight: a release started over.
func resumedFromZero(seen []int, maxWeight int) bool {
	for _, w := range seen {
		if w == maxWeight {
			return false
		}
		if w == 0 {
			return true
		}
	}
	return false
}

// checkResumedWithin checks the first weights seen after a restart: the
// route as the kill left it (routed), then at most one step further (the
// kill may have come between setting the route and writing the status).
func checkResumedWithin(t *testing.T, seen []int, routed, step int) {
	t.Helper()
	if len(seen) == 0 || seen[0] != routed {
		t.Fatalf("route weights after the restart %v, want them to start at %d, where the kill left it", seen, routed)
	}
	if len(seen) > 1 && seen[1] > routed+step {
		t.Errorf("route weights after the restart %v: skipped from %d to %d, more than a step of %d", seen, routed, seen[1], step)
	}
}

// startControllerProcess starts `serin controller` and waits until its
// /readyz answers 200.
func startControllerProcess(t *testing.T, bin, healthAddr string, args []string) *process {
	t.Helper()
	p := startProcess(t, bin, args...)
	testenv.Eventually(t, time.Minute, "controller ready", func(ctx context.Context) (bool, error) {
		select {
		case <-p.exited:
			t.Fatalf("controller exited before it was ready: %v\n%s", p.err, p.out.String())
		default:
		}
		code, _, err := httpGet(ctx, "http://"+healthAddr+"/readyz")
		return code == http.StatusOK, err
	})
	return p
}

// killedBy reports whether err is the exit of a process killed by sig.
func killedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// checkResumed checks the canary weights seen in the route after a restart:
// none is below the weight the release had reached until the canary had
// all of maxWeight, and the promotion then set it back to 0.
func checkResumed(t *testing.T, seen []int, at, maxWeight int) {
	t.Helper()
	if len(seen) == 0 {
		t.Fatal("no route weight seen after the restart")
	}
	full := false
	for _, w := range seen {
		switch {
		case w == maxWeight:
			full = true
		case w < at && !full:
			t.Fatalf("weight %d after the restart, below the %d the release had reached: %v", w, at, seen)
		}
	}
	if !full || seen[len(seen)-1] != 0 {
		t.Errorf("weights after the restart = %v, want them to reach %d and end at 0", seen, maxWeight)
	}
}

// sample returns the value of the series whose name and labels are
// exactly series in a Prometheus text exposition.
func sample(body, series string) (float64, bool) {
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}
