package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

func scenario(primaryErr, canaryErr float64) Scenario {
	lat := Latency{P50: 20 * time.Millisecond, P99: 40 * time.Millisecond}
	return Scenario{RPS: 10, Primary: Version{ErrorRate: primaryErr, Latency: lat}, Canary: Version{ErrorRate: canaryErr, Latency: lat}}
}

func simulate(t *testing.T, s Scenario, judgeType string, runs int) Summary {
	t.Helper()
	sum, _, err := RunMany(context.Background(), Config{Canary: walkthroughCanary(), Scenario: s, Judge: judgeType}, runs, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	return sum
}

// TestNeverLessSafe: wherever the canary is worse than the primary, the
// sequential judge promotes no more often than the threshold judge.
func TestNeverLessSafe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 2400 simulated releases")
	}
	const runs = 200
	for _, canaryErr := range []float64{0.005, 0.008, 0.015, 0.03, 0.05, 1} {
		t.Run(fmt.Sprintf("%g%% against 0.1%%", 100*canaryErr), func(t *testing.T) {
			th := simulate(t, scenario(0.001, canaryErr), judge.TypeThreshold, runs)
			sq := simulate(t, scenario(0.001, canaryErr), judge.TypeSequential, runs)
			// The target of docs/judge.md: no more often than the
			// threshold judge plus half a percentage point.
			if sq.Promoted > th.Promoted+0.005 {
				t.Errorf("sequential promoted %.1f%%, threshold %.1f%%", 100*sq.Promoted, 100*th.Promoted)
			}
		})
	}
}

// TestTargets runs the scenarios of the release targets with the
// walkthrough's Canary at 10 RPS, sequential against threshold judge. The
// simulated times and counts are deterministic for a seed.
func TestTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1600 simulated releases")
	}
	const runs = 200
	t.Run("crash", func(t *testing.T) {
		th, sq := simulate(t, scenario(0.001, 1), judge.TypeThreshold, runs), simulate(t, scenario(0.001, 1), judge.TypeSequential, runs)
		if sq.RolledBack != 1 {
			t.Errorf("sequential rolled back %.1f%% of crashing canaries, want 100%%", 100*sq.RolledBack)
		}
		if sq.TimeToDecisionP95 >= 10 {
			t.Errorf("sequential rollback p95 %vs, want under 10s", sq.TimeToDecisionP95)
		}
		if sq.FailedRequestsP50 > th.FailedRequestsP50/10 || sq.FailedRequestsP95 > th.FailedRequestsP95/10 {
			t.Errorf("sequential failed requests p50/p95 %v/%v, want at most 1/10 of threshold's %v/%v",
				sq.FailedRequestsP50, sq.FailedRequestsP95, th.FailedRequestsP50, th.FailedRequestsP95)
		}
	})
	t.Run("5% against 0.1%", func(t *testing.T) {
		th, sq := simulate(t, scenario(0.001, 0.05), judge.TypeThreshold, runs), simulate(t, scenario(0.001, 0.05), judge.TypeSequential, runs)
		if sq.RolledBack < 0.99 {
			t.Errorf("sequential rolled back %.1f%%, want at least 99%%", 100*sq.RolledBack)
		}
		if sq.TimeToDecisionP50 > th.TimeToDecisionP50 {
			t.Errorf("sequential rollback p50 %vs, want no later than threshold's %vs", sq.TimeToDecisionP50, th.TimeToDecisionP50)
		}
	})
	t.Run("identical at 1%", func(t *testing.T) {
		th, sq := simulate(t, scenario(0.01, 0.01), judge.TypeThreshold, runs), simulate(t, scenario(0.01, 0.01), judge.TypeSequential, runs)
		if sq.RolledBack > 0.02 {
			t.Errorf("sequential rolled back %.1f%% of identical canaries, want at most 2%%", 100*sq.RolledBack)
		}
		if th.RolledBack < 0.3 {
			t.Errorf("threshold rolled back %.1f%% of identical canaries; the scenario no longer shows Flagger's problem", 100*th.RolledBack)
		}
	})
	t.Run("healthy", func(t *testing.T) {
		th, sq := simulate(t, scenario(0.001, 0.001), judge.TypeThreshold, runs), simulate(t, scenario(0.001, 0.001), judge.TypeSequential, runs)
		// A window of the first minute with one failure among a few dozen
		// requests fails Flagger's check; the sequential judge holds such
		// a breach while the canary's failures are not clearly more than
		// the primary's hour of history predicts, so a healthy canary is
		// promoted (4998 of 5000 runs in docs/judge.md), as soon as with
		// the threshold judge.
		if sq.Promoted < 0.995 || sq.Promoted < th.Promoted {
			t.Errorf("sequential promoted %.1f%% of healthy canaries, want at least 99.5%% and the threshold judge's %.1f%%", 100*sq.Promoted, 100*th.Promoted)
		}
		if sq.TimeToDecisionP50 > th.TimeToDecisionP50 {
			t.Errorf("sequential promotion p50 %vs, want no later than threshold's %vs", sq.TimeToDecisionP50, th.TimeToDecisionP50)
		}
	})
}

func TestRunManyIsDeterministic(t *testing.T) {
	cfg := Config{Canary: walkthroughCanary(), Scenario: scenario(0.001, 0.05), Judge: judge.TypeSequential}
	_, one, err := RunMany(context.Background(), cfg, 20, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, four, err := RunMany(context.Background(), cfg, 20, 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, four) {
		t.Errorf("results differ with the number of workers:\n%v\n%v", one, four)
	}
	_, other, err := RunMany(context.Background(), cfg, 20, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(one, other) {
		t.Error("another seed gave the same results")
	}
}

func TestStepChange(t *testing.T) {
	s := scenario(0.001, 0.001)
	s.Changes = []Change{{At: 30 * time.Second, Canary: Version{ErrorRate: 1, Latency: s.Canary.Latency}}}
	sum := simulate(t, s, judge.TypeSequential, 50)
	if sum.RolledBack != 1 {
		t.Fatalf("rolled back %.0f%%, want 100%%", 100*sum.RolledBack)
	}
	if sum.TimeToDecisionP50 < 30 || sum.TimeToDecisionP95 > 40 {
		t.Errorf("decision p50/p95 %v/%vs, want soon after the change at 30s", sum.TimeToDecisionP50, sum.TimeToDecisionP95)
	}
}

func TestTrafficObserve(t *testing.T) {
	s := Scenario{RPS: 100,
		Primary: Version{ErrorRate: 0.01, Latency: Latency{P50: 20 * time.Millisecond, P99: 20 * time.Millisecond}},
		Canary:  Version{ErrorRate: 0.2, Latency: Latency{P50: 300 * time.Millisecond, P99: 300 * time.Millisecond}},
	}
	tr := NewTraffic(s, rand.New(rand.NewPCG(1, 1)))
	tr.Advance(100*time.Second, 0)
	tr.Advance(200*time.Second, 25)
	if tr.Now() != 300*time.Second {
		t.Fatalf("now %v, want 5m", tr.Now())
	}
	o, err := tr.Observe(v1beta1.CanaryMetric{Name: judge.RequestSuccessRate, Interval: "1m"}, 100*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %v, want %v ± %v", name, got, want, tol)
		}
	}
	// 25 rps to the canary for 200 s, 75 rps to the primary (plus 100 s
	// at 100 rps before the analysis, not counted).
	near("canary requests", float64(o.Canary.Requests), 5000, 5*math.Sqrt(5000))
	near("primary requests", float64(o.Primary.Requests), 15000, 5*math.Sqrt(15000))
	near("canary failures", float64(o.Canary.Failures), 1000, 5*math.Sqrt(1000))
	near("windowed samples", float64(o.Samples), 1500, 5*math.Sqrt(1500))
	near("windowed success rate", o.Value, 80, 3)
	if !o.HasValue || !o.HasCounts {
		t.Errorf("HasValue %v HasCounts %v, want both", o.HasValue, o.HasCounts)
	}
	// Every canary request takes 300ms, every primary request 20ms.
	h := o.Canary.Latency
	if h.Counts[len(h.Counts)-1] != o.Canary.Requests || countAt(h, 200) != 0 || countAt(h, 300) != o.Canary.Requests {
		t.Errorf("canary histogram %v, want all %d requests in the 300ms bucket", h.Counts, o.Canary.Requests)
	}
	if p := o.Primary.Latency; countAt(p, 10) != 0 || countAt(p, 20) != o.Primary.Requests {
		t.Errorf("primary histogram %v, want all %d requests in the 20ms bucket", p.Counts, o.Primary.Requests)
	}
	d, err := tr.Observe(v1beta1.CanaryMetric{Name: judge.RequestDuration}, 0)
	if err != nil {
		t.Fatal(err)
	}
	near("windowed p99", d.Value, 297.5, 2.5)

	if _, err := tr.Observe(v1beta1.CanaryMetric{Name: "custom"}, 0); err == nil {
		t.Error("a custom metric was observed, want an error")
	}
}

func countAt(h judge.Histogram, bound float64) int64 {
	for i, b := range h.Bounds {
		if b == bound {
			return h.Counts[i]
		}
	}
	return -1
}

func TestScenarioValidate(t *testing.T) {
	bad := Scenario{RPS: 0, Primary: Version{ErrorRate: 2}, Canary: Version{ErrorRate: 0.1, Latency: Latency{P50: time.Second, P99: time.Millisecond}}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid scenario accepted")
	}
	for _, want := range []string{"rps: must be positive", "primary.errorRate: must be between 0 and 1", "primary.latency.p50: must be positive", "canary.latency.p99: must be at least p50"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// TestPrimaryErrorBefore: the primary's history is served at its rate
// before the release, and the analysis at its rate after.
func TestPrimaryErrorBefore(t *testing.T) {
	before := 0.5
	s := scenario(0, 0)
	s.PrimaryErrorBefore = &before
	tr := NewTraffic(s, rand.New(rand.NewPCG(1, 2)))
	tr.Advance(time.Minute, 0)
	tr.Release()
	tr.Advance(time.Minute, 0)
	history, _ := tr.upTo(time.Minute)
	if history.requests < 500 || float64(history.failures) < 0.4*float64(history.requests) {
		t.Errorf("history %d of %d failed, want about half", history.failures, history.requests)
	}
	after, _ := tr.Served(time.Minute)
	if after.Requests < 500 || after.Failures != 0 {
		t.Errorf("after the release %d of %d failed, want none", after.Failures, after.Requests)
	}
	bad := -0.1
	s.PrimaryErrorBefore = &bad
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "primaryErrorBefore") {
		t.Errorf("Validate(%v) = %v, want an error naming primaryErrorBefore", bad, err)
	}
}
