package rollout

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
)

// TestRandomReleases drives Step with random specs and random observation
// sequences and checks what must hold whatever happens: weights within
// 0..100 and splitting 100, no promotion with failed checks at the
// threshold, the same input giving the same Decision, the input left
// unmodified, and no panic.
func TestRandomReleases(t *testing.T) {
	runs := 400
	if testing.Short() {
		runs = 50
	}
	seen := map[ActionType]int{}
	for seed := int64(1); seed <= int64(runs); seed++ {
		rng := rand.New(rand.NewSource(seed))
		c := randomCanary(rng)
		if err := randomRun(rng, c, 60, seen); err != nil {
			t.Fatalf("seed %d: %v\nspec: %+v", seed, err, c.Spec.Analysis)
		}
	}
	// The random runs must reach the interesting places.
	for _, a := range []ActionType{PromotePrimary, ScaleCanaryUp, RestoreTarget, SetRoutes} {
		if seen[a] == 0 {
			t.Errorf("no random run produced %s", a)
		}
	}
}

func randomCanary(rng *rand.Rand) *v1beta1.Canary {
	a := &v1beta1.CanaryAnalysis{
		Interval:  []string{"", "1s", "10s", "1m", "bogus"}[rng.Intn(5)],
		Threshold: rng.Intn(6) - 1,
		MaxWeight: rng.Intn(130) - 10,
	}
	switch rng.Intn(5) {
	case 0:
		a.StepWeight = rng.Intn(60)
	case 1:
		n := rng.Intn(5)
		w := 0
		for i := 0; i < n; i++ {
			w += 1 + rng.Intn(40)
			a.StepWeights = append(a.StepWeights, w)
		}
	case 2:
		a.Iterations = 1 + rng.Intn(4)
		a.Match = []v1beta1.HTTPMatchRequest{{Headers: map[string]v1beta1.StringMatch{"x": {Exact: "y"}}}}
	case 3:
		a.Iterations = 1 + rng.Intn(4)
		a.Mirror = rng.Intn(2) == 0
		a.MirrorWeight = rng.Intn(120)
	default:
		a.StepWeight = 10
	}
	a.StepWeightPromotion = rng.Intn(3) * 15
	for _, m := range []string{judge.RequestSuccessRate, judge.RequestDuration} {
		if rng.Intn(3) > 0 {
			a.Metrics = append(a.Metrics, v1beta1.CanaryMetric{Name: m, Threshold: float64(rng.Intn(600))})
		}
	}
	for _, h := range v1beta1.HookTypes {
		if rng.Intn(4) == 0 {
			a.Webhooks = append(a.Webhooks, v1beta1.CanaryWebhook{Name: string(h), Type: h, URL: "http://hook"})
		}
	}
	if rng.Intn(3) == 0 {
		a.Judge = &v1beta1.JudgeSpec{Type: []string{"threshold", "sequential"}[rng.Intn(2)], EvaluationInterval: "1s"}
	}
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"},
		Spec: v1beta1.CanarySpec{
			TargetRef:        v1beta1.LocalObjectReference{Name: "app"},
			SkipAnalysis:     rng.Intn(8) == 0,
			RevertOnDeletion: rng.Intn(2) == 0,
		},
	}
	if rng.Intn(6) > 0 {
		c.Spec.Analysis = a
	}
	if rng.Intn(3) == 0 {
		d := int32(rng.Intn(120))
		c.Spec.ProgressDeadlineSeconds = &d
	}
	return c
}

func randomRun(rng *rand.Rand, c *v1beta1.Canary, ticks int, seen map[ActionType]int) error {
	now := epoch
	revisions := []string{"a", "b", "c"}
	for i := 0; i < ticks; i++ {
		r := func(n int32) Readiness {
			ready := rng.Int31n(n + 1)
			return Readiness{Desired: n, Updated: rng.Int31n(n + 1), Ready: ready}
		}
		w := WorkloadState{
			TargetFound:    rng.Intn(20) > 0,
			TargetRevision: revisions[rng.Intn(len(revisions))],
			PrimaryFound:   rng.Intn(10) > 0,
			Target:         r(int32(rng.Intn(3))),
			Primary:        r(int32(rng.Intn(3))),
		}
		if rng.Intn(2) == 0 {
			w.Target = Readiness{Desired: 2, Updated: 2, Ready: 2}
			w.Primary = w.Target
		}
		cmd := []Command{NoCommand, NoCommand, NoCommand, NoCommand, Promote, Abort, Pause, Resume, "bogus"}[rng.Intn(9)]
		deleting := rng.Intn(40) == 0
		c.Spec.Suspend = rng.Intn(15) == 0
		needs := Plan(c, w, cmd, deleting, now)
		obs := Observed{Workload: w, Command: cmd, Deleting: deleting}
		for _, h := range needs.Hooks {
			if rng.Intn(5) > 0 {
				obs.Hooks = append(obs.Hooks, HookResult{Name: string(h), Type: h, OK: rng.Intn(3) > 0})
			}
		}
		if needs.Metrics && rng.Intn(6) > 0 {
			for _, m := range c.Spec.Analysis.Metrics {
				o := judge.Observation{Metric: m.Name, HasValue: rng.Intn(4) > 0, Value: rng.Float64() * 1000, Samples: int64(rng.Intn(3)) * 100}
				if rng.Intn(10) == 0 {
					o.Err = "boom"
				}
				obs.Metrics = append(obs.Metrics, o)
			}
		}
		in := Input{Canary: c, Observed: obs, Now: now}
		before := c.DeepCopy()
		d := Step(in)
		if !reflect.DeepEqual(before, c) {
			return fmt.Errorf("tick %d: Step modified its input", i)
		}
		if again := Step(in); !reflect.DeepEqual(d, again) {
			return fmt.Errorf("tick %d: Step is not deterministic", i)
		}
		if err := checkInvariants(c, d); err != nil {
			return fmt.Errorf("tick %d: %w", i, err)
		}
		for _, a := range d.Actions {
			seen[a.Type]++
		}
		c.Status = d.Status
		step := d.RequeueAfter
		if step <= 0 || rng.Intn(4) == 0 {
			step = time.Duration(rng.Intn(30)) * time.Second
		}
		now = now.Add(step)
	}
	return nil
}
