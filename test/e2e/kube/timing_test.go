package kube

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
)

var (
	timing      = flag.Bool("timing", false, "run the walkthrough's Canary at its own pace (10s interval, 1m metrics) and check its promotion and rollback times")
	timingJudge = flag.String("timing.judge", "", `with -timing, the Canary's analysis.judge.type ("sequential" judges every 2s)`)
)

// TestWalkthroughTiming releases with the walkthrough's Canary unchanged
// and checks serin promotes a healthy revision within 120s of `set image`
// and rolls back one that fails 5% of its requests sooner, with no more
// failed requests than Flagger's 5-6; it logs the release's timeline:
//
//	go test ./test/e2e/kube/ -run TestWalkthroughTiming -timing -v
//	go test ./test/e2e/kube/ -run TestWalkthroughTiming -timing -timing.judge=sequential -v
func TestWalkthroughTiming(t *testing.T) {
	if !*timing {
		t.Skip("takes about 4 minutes: run with -timing")
	}
	cluster := startCluster(t)
	e := setup(t, cluster, "test", false)
	c := loadCanary(t, e.ns)
	if *timingJudge != "" {
		c.Spec.Analysis.Judge = &v1beta1.JudgeSpec{Type: *timingJudge, EvaluationInterval: "2s"}
	}
	e.initialize(t, c)

	start := time.Now()
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitRelease(t, e)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 5*time.Minute, v1beta1.PhaseFailed)
	promoted := time.Since(start)
	t.Logf("promoted %s after set image", promoted.Round(time.Second))
	if promoted > 120*time.Second {
		t.Errorf("promotion took %s, want at most 120s", promoted.Round(time.Second))
	}
	checkPromoted(t, e, image171)

	e.mesh.setCanary(behaviour{ErrorRate: 0.05, LatencyMS: 4})
	sent0, failed0 := e.mesh.counts("podinfo")
	start = time.Now()
	stopTimeline := logTimeline(t, e, start)
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image170)
	waitRelease(t, e)
	c = waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseFailed, 5*time.Minute, v1beta1.PhaseSucceeded)
	rolledBack := time.Since(start)
	stopTimeline()
	sent, failed := e.mesh.counts("podinfo")
	t.Logf("rolled back %s after set image; canary served %d requests, %d failed; %s",
		rolledBack.Round(time.Second), sent-sent0, failed-failed0, c.Status.Message)
	if rolledBack > promoted {
		t.Errorf("rollback took %s, longer than the promotion (%s)", rolledBack.Round(time.Second), promoted.Round(time.Second))
	}
	// Flagger 1.36 let 5-6 requests fail on such a cluster before it
	// rolled back.
	if n := failed - failed0; n > 6 {
		t.Errorf("%d requests failed on the canary before the rollback, want at most 6", n)
	}
	checkRolledBack(t, e, image171)
}

// logTimeline logs every change of the Canary's phase, weight and failed
// checks, with the time since start and the canary's requests and failures
// so far, until stop is called.
func logTimeline(t *testing.T, e *env, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	sent0, failed0 := e.mesh.counts("podinfo")
	go func() {
		defer close(done)
		var last string
		for ctx.Err() == nil {
			if c, err := getCanary(ctx, e.cl, e.ns, "podinfo"); err == nil {
				st := c.Status
				now := fmt.Sprintf("%s w=%d fc=%d", st.Phase, st.CanaryWeight, st.FailedChecks)
				if now != last {
					sent, failed := e.mesh.counts("podinfo")
					t.Logf("+%4.1fs %s canary %d/%d failed: %s", time.Since(start).Seconds(), now, failed-failed0, sent-sent0, st.Message)
					last = now
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}
