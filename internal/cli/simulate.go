package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/manifest"
	"github.com/serinhq/serin/internal/sim"
)

// simulateOptions are the flags of `serin simulate`.
type simulateOptions struct {
	file               string
	rps                float64
	primaryError       string
	canaryError        string
	primaryLatency     string
	canaryLatency      string
	canaryErrorAfter   time.Duration
	runs               int
	seed               uint64
	judge              string
	alpha              float64
	evaluationInterval time.Duration
	limit              time.Duration
	primaryHistory     time.Duration
	primaryErrorBefore string
	output             string
}

func newSimulateCommand() *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate -f canary.yaml",
		Short: "Simulate releases of a Canary against synthetic traffic",
		Long: `simulate runs the rollout engine and the judges against synthetic traffic on a
virtual clock (nothing sleeps), many times with different random numbers, and
prints for each judge the share of runs promoted and rolled back, the time to
decision, the requests the canary served and the failed requests it served.

Requests arrive as a Poisson process at --rps and are split by the canary
weight. Error rates are fractions (0.05) or percentages (5%). Latencies are
log-normal: a duration is the median with the p99 at twice it (50ms), or give
both (p50=50ms,p99=400ms); equal p50 and p99 make every request take that long.
--canary-error-after makes the canary as good as the primary until that long
after the release, and --canary-error from then on.

The threshold judge evaluates at the analysis interval, as Flagger does; the
sequential judge at --evaluation-interval. Before the release the primary
serves all the traffic for --primary-history: the history a metrics source
keeps, which the sequential judge reads to tell a primary that sits at a
limit itself from a healthy one. --primary-error-before sets the primary's
error rate over that history, when it changed at the release.`,
		Example: `  # What would the walkthrough's Canary do with a 2% regression at 50 rps?
  serin simulate -f examples/podinfo/canary.yaml --rps 50 --canary-error 2% --runs 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "file with the Canary to simulate (required)")
	f.Float64Var(&o.rps, "rps", 10, "total requests per second")
	f.StringVar(&o.primaryError, "primary-error", "0.1%", "share of the primary's requests that fail")
	f.StringVar(&o.canaryError, "canary-error", "", "share of the canary's requests that fail (default: the primary's)")
	f.StringVar(&o.primaryLatency, "primary-latency", "20ms", "primary's latency: p50 (p99 twice it) or p50=D,p99=D")
	f.StringVar(&o.canaryLatency, "canary-latency", "", "canary's latency, as --primary-latency (default: the primary's)")
	f.DurationVar(&o.canaryErrorAfter, "canary-error-after", 0, "the canary fails at --canary-error only from this long after the release")
	f.IntVar(&o.runs, "runs", 100, "releases to simulate per judge")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random numbers; the same seed gives the same results")
	f.StringVar(&o.judge, "judge", "both", "judge to simulate: threshold, sequential or both")
	f.Float64Var(&o.alpha, "alpha", 0, "false-rollback rate of the sequential judge (default: the Canary's, or 0.01)")
	f.DurationVar(&o.evaluationInterval, "evaluation-interval", 0, "how often the sequential judge evaluates (default: the Canary's, or 2s)")
	f.DurationVar(&o.limit, "limit", sim.DefaultLimit, "simulated time a release may take before it counts as undecided")
	f.StringVar(&o.primaryErrorBefore, "primary-error-before", "", "share of the primary's requests that failed before the release, over --primary-history (default: --primary-error)")
	f.DurationVar(&o.primaryHistory, "primary-history", sim.DefaultPrimaryHistory, "how long the primary serves all the traffic before the release, the history the judges may read (0: none)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json (one object per line and judge)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runSimulate(cmd *cobra.Command, o *simulateOptions) error {
	judges, err := simulateJudges(o.judge)
	if err != nil {
		return err
	}
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output: must be table or json, got %q", o.output)
	}
	scenario, err := o.scenario()
	if err != nil {
		return err
	}
	set, err := manifest.LoadPaths(o.file)
	if err != nil {
		return err
	}
	canaries := set.Canaries()
	if len(canaries) != 1 {
		return fmt.Errorf("%s: want exactly one Canary, found %d", o.file, len(canaries))
	}
	var summaries []sim.Summary
	for _, j := range judges {
		cfg := sim.Config{
			Canary: canaries[0], Scenario: scenario, Judge: j,
			Alpha: o.alpha, EvaluationInterval: o.evaluationInterval, Limit: o.limit,
			PrimaryHistory: o.primaryHistory,
		}
		if o.primaryHistory == 0 {
			cfg.PrimaryHistory = -1 // none
		}
		s, _, err := sim.RunMany(cmd.Context(), cfg, o.runs, o.seed, 0)
		if err != nil {
			return fmt.Errorf("simulate %s judge: %w", j, err)
		}
		summaries = append(summaries, s)
	}
	if o.output == "json" {
		return printSummariesJSON(cmd.OutOrStdout(), summaries)
	}
	return printSummariesTable(cmd.OutOrStdout(), summaries)
}

func simulateJudges(s string) ([]string, error) {
	switch s {
	case "both":
		return []string{judge.TypeThreshold, judge.TypeSequential}, nil
	case judge.TypeThreshold, judge.TypeSequential:
		return []string{s}, nil
	}
	return nil, fmt.Errorf("--judge: must be threshold, sequential or both, got %q", s)
}

func (o *simulateOptions) scenario() (sim.Scenario, error) {
	var errs []error
	primaryErr, err := parseShare(o.primaryError)
	if err != nil {
		errs = append(errs, fmt.Errorf("--primary-error: %w", err))
	}
	canaryErr := primaryErr
	if o.canaryError != "" {
		if canaryErr, err = parseShare(o.canaryError); err != nil {
			errs = append(errs, fmt.Errorf("--canary-error: %w", err))
		}
	}
	var primaryBefore float64
	if o.primaryErrorBefore != "" {
		if primaryBefore, err = parseShare(o.primaryErrorBefore); err != nil {
			errs = append(errs, fmt.Errorf("--primary-error-before: %w", err))
		}
	}
	primaryLat, err := parseLatency(o.primaryLatency)
	if err != nil {
		errs = append(errs, fmt.Errorf("--primary-latency: %w", err))
	}
	canaryLat := primaryLat
	if o.canaryLatency != "" {
		if canaryLat, err = parseLatency(o.canaryLatency); err != nil {
			errs = append(errs, fmt.Errorf("--canary-latency: %w", err))
		}
	}
	if o.primaryHistory < 0 {
		errs = append(errs, fmt.Errorf("--primary-history: must not be negative, got %v", o.primaryHistory))
	}
	if o.canaryErrorAfter < 0 {
		errs = append(errs, fmt.Errorf("--canary-error-after: must not be negative, got %v", o.canaryErrorAfter))
	}
	if err := errors.Join(errs...); err != nil {
		return sim.Scenario{}, err
	}
	s := sim.Scenario{
		RPS:     o.rps,
		Primary: sim.Version{ErrorRate: primaryErr, Latency: primaryLat},
		Canary:  sim.Version{ErrorRate: canaryErr, Latency: canaryLat},
	}
	if o.primaryErrorBefore != "" {
		s.PrimaryErrorBefore = &primaryBefore
	}
	if o.canaryErrorAfter > 0 {
		s.Canary.ErrorRate = primaryErr
		s.Changes = []sim.Change{{At: o.canaryErrorAfter, Canary: sim.Version{ErrorRate: canaryErr, Latency: canaryLat}}}
	}
	return s, s.Validate()
}

// parseShare reads a fraction ("0.05") or a percentage ("5%").
func parseShare(s string) (float64, error) {
	v, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("not a fraction or percentage: %q", s)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("must be between 0 and 1 (0%% and 100%%), got %q", s)
	}
	return f, nil
}

// parseLatency reads "50ms" (median, p99 twice it) or "p50=50ms,p99=400ms".
func parseLatency(s string) (sim.Latency, error) {
	if !strings.Contains(s, "=") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return sim.Latency{}, fmt.Errorf("want a positive duration or p50=D,p99=D, got %q", s)
		}
		return sim.Latency{P50: d, P99: 2 * d}, nil
	}
	var l sim.Latency
	for part := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return sim.Latency{}, fmt.Errorf("%s: want a positive duration, got %q", k, v)
		}
		switch k {
		case "p50":
			l.P50 = d
		case "p99":
			l.P99 = d
		default:
			return sim.Latency{}, fmt.Errorf("unknown key %q: want p50 and p99", k)
		}
	}
	if l.P50 == 0 || l.P99 == 0 {
		return sim.Latency{}, fmt.Errorf("want both p50 and p99, got %q", s)
	}
	if l.P99 < l.P50 {
		return sim.Latency{}, fmt.Errorf("p99 must be at least p50, got %q", s)
	}
	return l, nil
}

func printSummariesJSON(w io.Writer, summaries []sim.Summary) error {
	enc := json.NewEncoder(w)
	for _, s := range summaries {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

func printSummariesTable(w io.Writer, summaries []sim.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JUDGE\tRUNS\tPROMOTED\tROLLED BACK\tDECISION P50\tDECISION P95\tCANARY REQUESTS P50\tFAILED P50\tFAILED P95")
	for _, s := range summaries {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%.1f%%\t%gs\t%gs\t%g\t%g\t%g\n",
			s.Judge, s.Runs, 100*s.Promoted, 100*s.RolledBack,
			s.TimeToDecisionP50, s.TimeToDecisionP95, s.CanaryRequestsP50,
			s.FailedRequestsP50, s.FailedRequestsP95)
	}
	return tw.Flush()
}
