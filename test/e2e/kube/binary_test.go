package kube

import (
	"context"
	"errors"
	"fmt"
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

// TestControllerBinaryKilled runs the `serin controller` binary, kills it
// with SIGKILL in the middle of a release, starts a new one and checks the
// release resumes at the weight it had reached and is promoted; then stops
// the second controller with SIGTERM and checks it shuts down cleanly.
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
	first := startControllerProcess(t, bin, healthAddr, args)

	// The walkthrough's Canary at its own 10s interval (the controller's
	// minimum), in steps of 25 so that the release is short.
	c := loadCanary(t, e.ns)
	c.Spec.Analysis.Interval = "10s"
	c.Spec.Analysis.StepWeight = 25
	c.Spec.Analysis.MaxWeight = 100
	step, maxWeight := c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight
	e.initialize(t, c)
	checkInitialized(t, e)

	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	var at int
	waitFor(t, 2*time.Minute, "canary weight in the TrafficSplit and the status", func(ctx context.Context) (bool, error) {
		_, routed, err := e.route(ctx)
		if err != nil {
			return false, err
		}
		c, err := getCanary(ctx, e.cl, e.ns, "podinfo")
		if err != nil {
			return false, err
		}
		if c.Status.Phase == v1beta1.PhaseFailed {
			t.Fatalf("canary failed: %s", c.Status.Message)
		}
		at = c.Status.CanaryWeight
		return routed >= step && routed < maxWeight && at >= step, nil
	})

	if err := first.signal(t, syscall.SIGKILL, 10*time.Second); !killedBy(err, syscall.SIGKILL) {
		t.Fatalf("first controller exited with %v, want killed by SIGKILL", err)
	}
	c, err := getCanary(t.Context(), e.cl, e.ns, "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	_, routed, err := e.route(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Status.CanaryWeight < at {
		t.Fatalf("status weight %d after the kill, below %d before it", c.Status.CanaryWeight, at)
	}
	t.Logf("killed at status weight %d (recorded %d), route weight %d", c.Status.CanaryWeight, at, routed)

	weights := recordWeights(t, e.route)
	second := startControllerProcess(t, bin, healthAddr, args)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)
	seen := weights.seen()
	t.Logf("route weights since the kill: %v", seen)
	checkResumed(t, seen, at, maxWeight)

	waitFor(t, 30*time.Second, "canary series in the second controller's /metrics", func(ctx context.Context) (bool, error) {
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
	if err := second.signal(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("second controller exited with %v after SIGTERM, want status 0", err)
	}
	t.Logf("second controller stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// startControllerProcess starts `serin controller` and waits until its
// /readyz answers 200.
func startControllerProcess(t *testing.T, bin, healthAddr string, args []string) *process {
	t.Helper()
	p := startProcess(t, bin, args...)
	waitFor(t, time.Minute, "controller ready", func(ctx context.Context) (bool, error) {
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
