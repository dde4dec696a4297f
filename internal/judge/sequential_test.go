package judge

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/serinhq/serin/api/v1beta1"
)

var linkerdBounds = []float64{1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
	1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000, math.Inf(1)}

func fptr(v float64) *float64 { return &v }

// hist builds a cumulative Linkerd histogram from counts per bound.
func hist(per map[float64]int64) Histogram {
	h := Histogram{Bounds: linkerdBounds, Counts: make([]int64, len(linkerdBounds))}
	var sum int64
	for i, b := range linkerdBounds {
		sum += per[b]
		h.Counts[i] = sum
	}
	return h
}

func errObs(cn, cf, pn, pf int64) Observation {
	return Observation{
		Metric: RequestSuccessRate, HasValue: true, Value: 100 * (1 - float64(cf)/float64(max(cn, 1))), Samples: cn,
		HasCounts: true,
		Canary:    Counts{Requests: cn, Failures: cf},
		Primary:   Counts{Requests: pn, Failures: pf},
	}
}

// withBaseline adds the primary's history before the analysis.
func withBaseline(o Observation, n, failures int64) Observation {
	o.Baseline = Counts{Requests: n, Failures: failures}
	return o
}

// withLatencyBaseline adds the primary's history before the analysis, as
// counts per bound.
func withLatencyBaseline(o Observation, per map[float64]int64) Observation {
	h := hist(per)
	o.Baseline = Counts{Requests: h.Counts[len(h.Counts)-1], Latency: h}
	return o
}

func latObs(c, p map[float64]int64) Observation {
	ch, ph := hist(c), hist(p)
	cn, pn := ch.Counts[len(ch.Counts)-1], ph.Counts[len(ph.Counts)-1]
	return Observation{
		Metric: RequestDuration, HasValue: true, Value: histQuantile(0.99, ch, cn), Samples: cn,
		HasCounts: true,
		Canary:    Counts{Requests: cn, Latency: ch},
		Primary:   Counts{Requests: pn, Latency: ph},
	}
}

func TestSequentialJudge(t *testing.T) {
	success := v1beta1.CanaryMetric{Name: RequestSuccessRate, ThresholdRange: &v1beta1.CanaryThresholdRange{Min: fptr(99)}}
	successNoLimit := v1beta1.CanaryMetric{Name: RequestSuccessRate}
	duration := v1beta1.CanaryMetric{Name: RequestDuration, ThresholdRange: &v1beta1.CanaryThresholdRange{Max: fptr(500)}}
	durationNoLimit := v1beta1.CanaryMetric{Name: RequestDuration}
	custom := v1beta1.CanaryMetric{Name: "error-budget", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: fptr(99)}}

	tests := []struct {
		name    string
		metric  v1beta1.CanaryMetric
		obs     Observation
		want    Verdict
		reasons []string
	}{
		{
			name:    "no counts falls back to the threshold judge",
			metric:  custom,
			obs:     Observation{Metric: "error-budget", HasValue: true, Value: 97, Samples: 50},
			want:    Fail,
			reasons: []string{"error-budget 97 < 99 (n=50)"},
		},
		{
			name:    "query error falls back to the threshold judge",
			metric:  success,
			obs:     Observation{Metric: RequestSuccessRate, HasCounts: true, Err: "connection refused"},
			want:    Wait,
			reasons: []string{"query failed: connection refused"},
		},
		{
			name:    "no canary traffic waits",
			metric:  success,
			obs:     errObs(0, 0, 500, 1),
			want:    Wait,
			reasons: []string{"waiting for traffic to the canary"},
		},
		{
			name:    "no primary traffic waits",
			metric:  success,
			obs:     errObs(50, 0, 0, 0),
			want:    Wait,
			reasons: []string{"waiting for traffic to the primary"},
		},
		{
			name:    "crash breaks the hard limit after a few requests",
			metric:  success,
			obs:     errObs(3, 3, 27, 0),
			want:    Fail,
			reasons: []string{"canary 100.0% errors (n=3) above the 1.0%", "limit broken"},
		},
		{
			name:   "5% against 0.1% is a regression",
			metric: successNoLimit,
			obs:    errObs(212, 11, 1890, 2),
			want:   Fail,
			reasons: []string{
				"request-success-rate canary 5.2% errors vs primary 0.11% (n=212 vs 1890), Bayes factor",
				">= 100: regression",
			},
		},
		{
			name:    "one error in the first ten requests fails the check the threshold judge makes",
			metric:  success,
			obs:     errObs(10, 1, 90, 0),
			want:    Fail,
			reasons: []string{"request-success-rate 90% < 99% (n=10), primary 0.0% errors (n=90)"},
		},
		{
			name:    "one error in the first ten requests is no regression without a limit",
			metric:  successNoLimit,
			obs:     errObs(10, 1, 90, 0),
			want:    Pass,
			reasons: []string{"canary 10.0% errors vs primary 0.0% (n=10 vs 90)", "< 100: no regression"},
		},
		{
			name:    "one error in a small window holds when the primary's history is clean",
			metric:  success,
			obs:     withBaseline(errObs(30, 1, 270, 0), 6000, 6),
			want:    Wait,
			reasons: []string{"96.67% < 99% (n=30)", "vs primary 0.096% over its history (n=6270)", "< 20: holding until the window shows whether it is chance"},
		},
		{
			name:    "a breach counts when the primary fails more often now than over its history",
			metric:  success,
			obs:     withBaseline(errObs(30, 1, 3000, 15), 36000, 36),
			want:    Fail,
			reasons: []string{"96.67% < 99% (n=30)", "primary 0.50% errors now vs 0.10% over its history (n=3000 vs 36000)", "history set aside"},
		},
		{
			name:    "failures clearly above the primary's history count as a failed check",
			metric:  success,
			obs:     withBaseline(errObs(60, 2, 540, 0), 6000, 6),
			want:    Fail,
			reasons: []string{"96.67% < 99% (n=60)"},
		},
		{
			name:    "a breach holds while only the analysis's few primary requests make it look like a regression",
			metric:  success,
			obs:     withBaseline(errObs(30, 2, 300, 0), 36000, 108),
			want:    Wait,
			reasons: []string{"93.33% < 99% (n=30)", "vs primary 0.30% over its history (n=36300)", "< 20: holding until the window shows whether it is chance"},
		},
		{
			name:    "a passing window still holds while the canary leans above the primary's history",
			metric:  success,
			obs:     withBaseline(errObs(300, 3, 2700, 2), 6000, 6),
			want:    Wait,
			reasons: []string{"no regression; but canary 1.0% errors (n=300) vs primary", ">= 2: holding until it is clear"},
		},
		{
			name:    "a passing window with clean evidence advances",
			metric:  success,
			obs:     withBaseline(errObs(600, 1, 5400, 5), 6000, 6),
			want:    Pass,
			reasons: []string{"no regression"},
		},
		{
			name:    "a window under the floor is judged against a primary that sits at it",
			metric:  success,
			obs:     withBaseline(errObs(100, 2, 900, 9), 6000, 60),
			want:    Pass,
			reasons: []string{"98% < 99% (n=100), but primary 1.0% errors (n=6900): judged against the primary", "no regression"},
		},
		{
			name:    "a primary at the floor excuses no canary that looks worse",
			metric:  success,
			obs:     withBaseline(errObs(100, 6, 900, 9), 6000, 60),
			want:    Fail,
			reasons: []string{"94% < 99% (n=100), primary 1.0% errors (n=6900)"},
		},
		{
			name:    "a short history of the primary at the floor excuses nothing",
			metric:  success,
			obs:     errObs(100, 2, 200, 2),
			want:    Fail,
			reasons: []string{"98% < 99% (n=100), primary 1.0% errors (n=200)"},
		},
		{
			name:    "too few canary requests to have caught a crash",
			metric:  successNoLimit,
			obs:     errObs(2, 0, 20, 0),
			want:    Wait,
			reasons: []string{"too few samples yet"},
		},
		{
			name:    "equal error rates pass",
			metric:  success,
			obs:     errObs(1000, 10, 9000, 90),
			want:    Pass,
			reasons: []string{"canary 1.0% errors vs primary 1.0% (n=1000 vs 9000)", "no regression"},
		},
		{
			name:    "a canary better than the primary passes",
			metric:  successNoLimit,
			obs:     errObs(1000, 0, 9000, 900),
			want:    Pass,
			reasons: []string{"no regression"},
		},
		{
			name:    "a regression within the tolerance passes",
			metric:  successNoLimit,
			obs:     errObs(50000, 550, 50000, 500),
			want:    Pass,
			reasons: []string{"canary 1.1% errors vs primary 1.0%"},
		},
		{
			name:    "a canary under its hard limit fails even when the primary is as bad",
			metric:  success,
			obs:     errObs(2000, 100, 18000, 900),
			want:    Fail,
			reasons: []string{"canary 5.0% errors (n=2000) above the 1.0% its threshold allows (min 99%)", "limit broken"},
		},
		{
			name:    "same latency passes",
			metric:  duration,
			obs:     latObs(map[float64]int64{20: 50, 30: 140, 50: 8, 100: 2}, map[float64]int64{20: 450, 30: 1260, 50: 72, 100: 18}),
			want:    Pass,
			reasons: []string{"request-duration canary 5.0% of requests slower than 30ms (p95 bucket of both) vs primary 5.0% (n=200 vs 1800)", "no regression"},
		},
		{
			name:   "the latency comparison's bound is the p95 bucket of the primary's history when it has one",
			metric: duration,
			obs: withLatencyBaseline(latObs(map[float64]int64{20: 50, 30: 140, 50: 8, 100: 2}, map[float64]int64{20: 450, 30: 1260, 50: 72, 100: 18}),
				map[float64]int64{20: 500, 30: 1300, 50: 180, 100: 20}),
			want:    Pass,
			reasons: []string{"request-duration canary 1.0% of requests slower than 50ms (p95 bucket of the primary's history) vs primary 1.0% (n=200 vs 1800)", "no regression"},
		},
		{
			name:   "a short history of the primary leaves the bound to both versions' requests",
			metric: duration,
			obs: withLatencyBaseline(latObs(map[float64]int64{20: 50, 30: 140, 50: 8, 100: 2}, map[float64]int64{20: 450, 30: 1260, 50: 72, 100: 18}),
				map[float64]int64{20: 50, 30: 130, 50: 18, 100: 2}),
			want:    Pass,
			reasons: []string{"slower than 30ms (p95 bucket of both)"},
		},
		{
			name:    "slower canary is a latency regression",
			metric:  durationNoLimit,
			obs:     latObs(map[float64]int64{20: 50, 30: 100, 50: 20, 200: 30}, map[float64]int64{20: 450, 30: 1260, 50: 80, 100: 10}),
			want:    Fail,
			reasons: []string{"canary 15.0% of requests slower than 50ms (p95 bucket of both) vs primary 0.56%", "regression"},
		},
		{
			name:    "canary over its latency limit fails",
			metric:  duration,
			obs:     latObs(map[float64]int64{20: 150, 1000: 50}, map[float64]int64{20: 1500, 1000: 300}),
			want:    Fail,
			reasons: []string{"canary 25.0% of requests slower than 500ms (n=200)", "max 500ms", "limit broken"},
		},
	}
	j := NewSequential(0.01, Threshold{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := j.Judge(tt.metric, tt.obs)
			if got.Verdict != tt.want {
				t.Fatalf("verdict %q, want %q (%s)", got.Verdict, tt.want, got.Reason)
			}
			// A Fail is conclusive when a test settled it, and only then:
			// a failed window check is counted as Flagger counts it.
			settled := strings.HasSuffix(got.Reason, ": regression") || strings.HasSuffix(got.Reason, ": limit broken")
			if got.Verdict == Fail && got.Conclusive != settled {
				t.Errorf("conclusive %v, want %v (%s)", got.Conclusive, settled, got.Reason)
			}
			if got.Metric != tt.metric.Name {
				t.Errorf("metric %q, want %q", got.Metric, tt.metric.Name)
			}
			for _, r := range tt.reasons {
				if !strings.Contains(got.Reason, r) {
					t.Errorf("reason %q does not contain %q", got.Reason, r)
				}
			}
		})
	}
}

func TestForSequential(t *testing.T) {
	j, ok := For(&v1beta1.CanaryAnalysis{Judge: &v1beta1.JudgeSpec{Type: TypeSequential, Alpha: fptr(0.05)}}).(*Sequential)
	if !ok {
		t.Fatal("For(sequential) is not the sequential judge")
	}
	if j.Alpha != 0.05 {
		t.Errorf("alpha %v, want 0.05", j.Alpha)
	}
	j, _ = For(&v1beta1.CanaryAnalysis{Judge: &v1beta1.JudgeSpec{Type: TypeSequential}}).(*Sequential)
	if j == nil || j.Alpha != DefaultAlpha {
		t.Errorf("default alpha: got %+v, want %v", j, DefaultAlpha)
	}
	if j.Tolerance != DefaultTolerance || j.LatencyTolerance != DefaultLatencyTolerance {
		t.Errorf("default tolerances %v and %v, want %v for errors and %v for latency",
			j.Tolerance, j.LatencyTolerance, DefaultTolerance, DefaultLatencyTolerance)
	}
	// A tolerance the Canary sets is the tolerance of both comparisons.
	j, _ = For(&v1beta1.CanaryAnalysis{Judge: &v1beta1.JudgeSpec{Type: TypeSequential, Tolerance: fptr(1.1)}}).(*Sequential)
	if j == nil || j.Tolerance != 1.1 || j.LatencyTolerance != 1.1 {
		t.Errorf("tolerance 1.1: got %+v, want 1.1 for errors and latency", j)
	}
}

func TestMixtureBayesFactorIsAMartingale(t *testing.T) {
	// Under the null the Bayes factor has mean one: sum it exactly over
	// every outcome of n trials.
	for _, p0 := range []float64{0.01, 0.1, 0.5} {
		const n = 30
		var mean float64
		for x := 0; x <= n; x++ {
			logP := lchoose(n, x) + float64(x)*math.Log(p0) + float64(n-x)*math.Log1p(-p0)
			mean += math.Exp(logP + mixtureLogBF(int64(x), n, p0))
		}
		if math.Abs(mean-1) > 1e-9 {
			t.Errorf("p0=%v: mean Bayes factor %v, want 1", p0, mean)
		}
	}
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// TestSequentialFalseRollbacks judges two identical versions after every
// evaluation of a stepped release and counts the runs ever failed: the
// share must stay under alpha plus a small slack.
func TestSequentialFalseRollbacks(t *testing.T) {
	const (
		runs      = 1000
		alpha     = 0.01
		rps       = 10.0
		evalEvery = 2.0  // seconds
		stepEvery = 10.0 // seconds
		errRate   = 0.01
	)
	metrics := []v1beta1.CanaryMetric{
		{Name: RequestSuccessRate, ThresholdRange: &v1beta1.CanaryThresholdRange{Min: fptr(99)}},
		{Name: RequestDuration, ThresholdRange: &v1beta1.CanaryThresholdRange{Max: fptr(500)}},
	}
	j := NewSequential(alpha, Threshold{})
	rng := rand.New(rand.NewPCG(1, 2))
	failedRuns := 0
	for range runs {
		var c, p Counts
		cl, pl := make([]int64, len(linkerdBounds)), make([]int64, len(linkerdBounds))
		failed := false
		for t := evalEvery; t <= 100 && !failed; t += evalEvery {
			weight := math.Min(0.1*math.Ceil(t/stepEvery), 0.5)
			for range int(rps * evalEvery) {
				lat := math.Exp(math.Log(20) + 0.4*rng.NormFloat64())
				counts, reqs, fails := pl, &p.Requests, &p.Failures
				if rng.Float64() < weight {
					counts, reqs, fails = cl, &c.Requests, &c.Failures
				}
				*reqs++
				if rng.Float64() < errRate {
					*fails++
				}
				for i, b := range linkerdBounds {
					if lat <= b {
						counts[i]++
					}
				}
			}
			c.Latency = Histogram{Bounds: linkerdBounds, Counts: cl}
			p.Latency = Histogram{Bounds: linkerdBounds, Counts: pl}
			for _, m := range metrics {
				o := Observation{Metric: m.Name, HasCounts: true, Canary: c, Primary: p}
				// Only a Fail a test settles rolls back; a window that
				// breaks the limit is a failed check (TestSequentialWindowCheck).
				if r := j.Judge(m, o); r.Verdict == Fail && r.Conclusive {
					failed = true
				}
			}
		}
		if failed {
			failedRuns++
		}
	}
	share := float64(failedRuns) / runs
	t.Logf("false rollbacks: %d of %d runs (%.2f%%)", failedRuns, runs, 100*share)
	if share > alpha+0.01 {
		t.Errorf("false rollbacks in %.2f%% of runs, want at most %.2f%%", 100*share, 100*(alpha+0.01))
	}
}

// TestSequentialForTolerance: analysis.judge.tolerance sets how much worse
// than the primary a canary may be; without it the default applies.
func TestSequentialForTolerance(t *testing.T) {
	tol := 2.0
	spec := &v1beta1.CanaryAnalysis{Judge: &v1beta1.JudgeSpec{Type: v1beta1.JudgeSequential, Tolerance: &tol}}
	s, ok := For(spec).(*Sequential)
	if !ok || s.Tolerance != 2 {
		t.Fatalf("For(tolerance 2) = %#v, want a sequential judge with tolerance 2", For(spec))
	}
	spec.Judge.Tolerance = nil
	if s := For(spec).(*Sequential); s.Tolerance != DefaultTolerance {
		t.Errorf("tolerance without the field = %v, want %v", s.Tolerance, DefaultTolerance)
	}

	// A canary at 1.5 times the primary's failures is a regression with no
	// tolerance, and passes with a tolerance of 2.
	m := v1beta1.CanaryMetric{Name: RequestSuccessRate}
	o := Observation{Metric: RequestSuccessRate, HasCounts: true,
		Canary:  Counts{Requests: 100000, Failures: 1500},
		Primary: Counts{Requests: 100000, Failures: 1000}}
	strict := &Sequential{Alpha: 0.01, Tolerance: 1}
	loose := &Sequential{Alpha: 0.01, Tolerance: 2}
	if v := strict.Judge(m, o).Verdict; v != Fail {
		t.Errorf("tolerance 1: verdict %s, want fail", v)
	}
	if v := loose.Judge(m, o).Verdict; v != Pass {
		t.Errorf("tolerance 2: verdict %s, want pass", v)
	}
}
