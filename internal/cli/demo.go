package cli

import (
	"golang.org/x/term"

	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/examples"
	"github.com/serinhq/serin/internal/demo"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/manifest"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// demoOptions are the flags of serin demo.
type demoOptions struct {
	stateDir     string
	scenario     string
	interval     time.Duration
	exit         bool
	frontendPort int32
	podinfoPort  int32
	timeout      time.Duration
	dashboard    string
	// withLoadtester runs Flagger's loadtester and the Canary with its
	// webhooks: an acceptance test, hey load and a promotion gate.
	withLoadtester bool
}

const (
	demoNamespace = "test"
	demoImage     = "quay.io/stefanprodan/podinfo:1.7.1"
)

func newDemoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the walkthrough on this machine: a canary release of podinfo 1.7.0 -> 1.7.1",
		Long: `demo runs the walkthrough's podinfo, frontend and load generator as local
processes behind serin's proxy, waits for the Canary to initialise, releases
podinfo 1.7.1 and shows the release live until it is promoted or rolled back,
then a summary. It keeps running so that you can look around (the dashboard
on http://127.0.0.1:9999, curl http://localhost:8080, serin get canaries, serin
stat deploy) until Ctrl-C, which stops every process it started.

--scenario=faulty releases a 1.7.1 that fails about 10% of its requests, which
the analysis catches and rolls back. --interval shortens the analysis interval
(the walkthrough's is 10s). --exit ends after the summary, with status 0 when
the release ended as the scenario expects.

--with-loadtester also runs Flagger's loadtester (as serin loadtester) and
the walkthrough's Canary with its webhooks: an acceptance test with hey
before the canary gets traffic, hey load on podinfo-canary during the
analysis, and a promotion gate that holds the release at 100% until
serin promote canary/podinfo, or a curl to the loadtester's /gate/open,
opens it (with --exit, the demo opens it itself).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.scenario != "default" && o.scenario != "faulty" {
				return fmt.Errorf("--scenario: must be default or faulty, got %q", o.scenario)
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stateDir, "state-dir", local.DefaultStateDir(), "state directory (its previous state is discarded)")
	f.StringVar(&o.scenario, "scenario", "default", "default (1.7.1 is healthy and promoted) or faulty (1.7.1 fails ~10% of requests and is rolled back)")
	f.DurationVar(&o.interval, "interval", 0, "analysis interval, at least 1s (default: the walkthrough's 10s)")
	f.BoolVar(&o.exit, "exit", false, "exit after the summary instead of running until Ctrl-C")
	f.Int32Var(&o.frontendPort, "frontend-port", 8080, "port of the frontend on 127.0.0.1")
	f.Int32Var(&o.podinfoPort, "podinfo-port", 9898, "port of the podinfo Service on 127.0.0.1")
	f.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up when the release has not ended after this long")
	f.StringVar(&o.dashboard, "dashboard", defaultDashboardAddr, "address of the live web dashboard (host:port; empty turns it off)")
	f.BoolVar(&o.withLoadtester, "with-loadtester", false, "also run Flagger's loadtester and the Canary with its webhooks: an acceptance test, hey load and a promotion gate")
	return cmd
}

// demoObjects loads the embedded walkthrough manifests and applies the
// demo's flags to them.
func demoObjects(o demoOptions) ([]any, error) {
	set := &manifest.Set{}
	err := fs.WalkDir(examples.Podinfo, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !demoFileWanted(path, o.withLoadtester) {
			return nil
		}
		f, err := examples.Podinfo.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		s, err := manifest.Decode(f, "examples/"+path)
		if err != nil {
			return err
		}
		set.Objects = append(set.Objects, s.Objects...)
		set.Files = append(set.Files, s.Files...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded manifests: %w", err)
	}
	for _, s := range set.Services() {
		switch s.Name {
		case "podinfo":
			s.Spec.Ports[0].Port = o.podinfoPort
		case "frontend":
			s.Spec.Ports[0].Port = o.frontendPort
		}
	}
	for _, c := range set.Canaries() {
		c.Spec.Service.Port = o.podinfoPort
		if o.interval > 0 {
			c.Spec.Analysis.Interval = o.interval.String()
		}
		// The webhooks' load goes to podinfo-canary.test on podinfo's port.
		port := strings.NewReplacer(".test:9898", fmt.Sprintf(".test:%d", o.podinfoPort))
		for i, w := range c.Spec.Analysis.Webhooks {
			for k, v := range w.Metadata {
				c.Spec.Analysis.Webhooks[i].Metadata[k] = port.Replace(v)
			}
		}
	}
	if err := set.Validate(v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal, NoCluster: true}); err != nil {
		if o.interval > 0 && o.interval < time.Second {
			return nil, fmt.Errorf("--interval: must be at least 1s, got %s", o.interval)
		}
		return nil, fmt.Errorf("embedded manifests: %w", err)
	}
	return objectsOf(set), nil
}

func runDemo(ctx context.Context, out, errw io.Writer, o demoOptions) error {
	started := time.Now()
	objs, err := demoObjects(o)
	if err != nil {
		return err
	}
	var dashLine, dashURL string
	if o.dashboard != "" {
		ln, err := listenDashboard(o.dashboard, "--dashboard")
		if err != nil {
			return err
		}
		dctx, stopDash := context.WithCancel(context.WithoutCancel(ctx))
		url, waitDash, err := startDashboard(dctx, ln, o.stateDir, errw)
		if err != nil {
			stopDash()
			return err
		}
		defer waitDash()
		defer stopDash()
		dashURL = url
		dashLine = fmt.Sprintf("  %s\n  %-39s the dashboard: the release, its history, golden metrics and events,\n  %-39s live; it can pause, resume, promote and abort (the token is its key)\n", dashURL, "", "")
		warnExposed(errw, o.dashboard, "--dashboard")
	}
	rt, err := local.Open(local.Options{
		StateDir: o.stateDir, Reset: true, Logger: warnLogger(errw), NewEngine: newLocalEngine,
	})
	if err != nil {
		return err
	}
	if _, err := rt.Apply(objs...); err != nil {
		_ = rt.Close()
		var pe *local.PortInUseError
		if errors.As(err, &pe) {
			return demoPortError(pe)
		}
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	run := &runState{done: make(chan struct{})}
	go func() {
		run.err = rt.Run(runCtx, rt.ServeAPI)
		close(run.done)
	}()
	wait := func() error {
		stop()
		<-run.done
		return run.err
	}
	fail := func(err error) error {
		_ = wait()
		var pe *local.PortInUseError
		if errors.As(err, &pe) {
			return demoPortError(pe)
		}
		return err
	}

	fmt.Fprintf(out, "serin demo (%s scenario): the walkthrough of a canary release, on this machine.\n", o.scenario)
	if o.withLoadtester {
		fmt.Fprintln(out, "Starting podinfo 1.7.0, the frontend, the load generator and Flagger's loadtester (as serin loadtester)...")
	} else {
		fmt.Fprintln(out, "Starting podinfo 1.7.0, the frontend and the load generator...")
	}
	c, err := waitCanary(ctx, rt, run, func(c *v1beta1.Canary) bool { return c.Status.Phase == v1beta1.PhaseInitialized })
	if err != nil {
		return fail(err)
	}
	interval := c.Spec.Analysis.IntervalDuration()
	stateFlag := "" // the other commands find the default state directory themselves
	if o.stateDir != local.DefaultStateDir() {
		stateFlag = " --state-dir " + o.stateDir
	}
	fmt.Fprintf(out, `Ready in %s. Look around while the release runs:
%s  curl http://localhost:%d              the frontend: the version and colour you get
  curl http://localhost:%d              podinfo through serin's proxy
  serin get canaries%s
  serin stat deploy%s
  serin events -w%s
Canary podinfo.test: step %d%% every %s while success >= 99%% and p99 <= 500ms; rollback after %d failed checks.
`, time.Since(started).Round(10*time.Millisecond), dashLine, o.frontendPort, o.podinfoPort,
		stateFlag, stateFlag, stateFlag, c.Spec.Analysis.StepWeight, interval, c.Spec.Analysis.EffectiveThreshold())
	var lt *loadtesterView
	if o.withLoadtester {
		fmt.Fprint(out, webhookLines(c))
		lt = newLoadtesterView(rt, o.exit)
	}

	release := time.Now()
	seq := lastSeq(rt)
	fmt.Fprintf(out, "Releasing podinfo 1.7.1 (set image deployment/podinfo podinfod=%s)%s\n", demoImage,
		map[bool]string{true: " with --random-error: about 10% of its requests fail", false: ""}[o.scenario == "faulty"])
	err = rt.UpdateDeployment(demoNamespace, "podinfo", func(spec *corev1.PodSpec) error {
		spec.Containers[0].Image = demoImage
		if o.scenario == "faulty" {
			spec.Containers[0].Env = append(spec.Containers[0].Env, corev1.EnvVar{Name: "PODINFO_RANDOM_ERROR", Value: "true"})
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	newRev := targetRevision(rt)

	end, err := watchRelease(ctx, rt, run, out, seq, newRev, o.timeout, lt)
	if err != nil {
		return fail(err)
	}
	sum := demoSummary(rt, end, release)
	fmt.Fprintln(out)
	fmt.Fprint(out, sum.String())
	if lt != nil {
		fmt.Fprint(out, lt.summary())
	}
	expected := (o.scenario == "default") == sum.Promoted
	if !expected {
		fmt.Fprintf(out, "This is not what the %s scenario expects.\n", o.scenario)
	}
	if o.exit {
		if err := wait(); err != nil {
			return err
		}
		if !expected {
			return fmt.Errorf("release %s, but the %s scenario expects otherwise", end.Status.Phase, o.scenario)
		}
		return nil
	}
	if dashURL != "" {
		fmt.Fprintf(out, "\nStill running: the dashboard on %s, curl http://localhost:%d, serin get canaries, serin stat deploy. Ctrl-C stops everything.\n", dashURL, o.frontendPort)
	} else {
		fmt.Fprintf(out, "\nStill running: curl http://localhost:%d, serin get canaries, serin stat deploy. Ctrl-C stops everything.\n", o.frontendPort)
	}
	select {
	case <-ctx.Done():
	case <-run.done:
		return run.stopped()
	}
	fmt.Fprintln(out, "Stopping...")
	return wait()
}

// runState is the outcome of the runtime's Run, once done is closed.
type runState struct {
	done chan struct{}
	err  error
}

func (r *runState) stopped() error {
	if r.err == nil {
		return errors.New("the runtime stopped")
	}
	return r.err
}

func demoPortError(pe *local.PortInUseError) error {
	flag := "--podinfo-port"
	if pe.Service == "frontend" {
		flag = "--frontend-port"
	}
	return fmt.Errorf("port %d is already in use on 127.0.0.1 (%s needs it); stop what uses it or pass %s=<another port>", pe.Port, pe.Service, flag)
}

func lastSeq(rt *local.Runtime) int64 {
	evs, _ := rt.Events(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

func targetRevision(rt *local.Runtime) string {
	for _, d := range rt.Snapshot().Deployments {
		if d.Deployment.Namespace == demoNamespace && d.Deployment.Name == "podinfo" {
			return d.Revision
		}
	}
	return ""
}

// waitCanary polls the demo's Canary until done says so.
func waitCanary(ctx context.Context, rt *local.Runtime, run *runState, done func(*v1beta1.Canary) bool) (*v1beta1.Canary, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if c, ok := rt.Canary(demoNamespace, "podinfo"); ok && done(c) {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-run.done:
			return nil, run.stopped()
		case <-t.C:
		}
	}
}

// watchRelease shows the release until it ends: a live view on a terminal,
// one line per event otherwise, with the loadtester's tasks and gate when
// lt is set.
func watchRelease(ctx context.Context, rt *local.Runtime, run *runState, out io.Writer, seq int64, rev string, timeout time.Duration, lt *loadtesterView) (*v1beta1.Canary, error) {
	tty := isTerminal(out)
	var view *demo.LiveView
	if tty {
		view = demo.NewLiveView(out, terminalWidth(out))
	}
	start := time.Now()
	var decisions []string
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(timeout)
	lastWeight := -1
	var lastNotes []string
	show := func(line string) {
		if !tty {
			fmt.Fprintln(out, line)
		}
		decisions = append(decisions, line)
		if len(decisions) > 6 {
			decisions = decisions[1:]
		}
	}
	for {
		var lines []demoLine
		evs, _ := rt.Events(seq)
		for _, e := range evs {
			seq = e.Seq
			if e.Kind != "Canary" {
				continue
			}
			lines = append(lines, newDemoLine(e.Time, "%s %s", e.Reason, e.Message))
		}
		c, ok := rt.Canary(demoNamespace, "podinfo")
		if !ok {
			return nil, errors.New("canary test/podinfo is gone")
		}
		var notes []string
		if lt != nil {
			var more []demoLine
			more, notes = lt.step(ctx, c)
			lines = append(lines, more...)
			slices.SortStableFunc(lines, func(a, b demoLine) int { return a.at.Compare(b.at) })
		}
		for _, l := range lines {
			show(l.text)
		}
		if !tty && !slices.Equal(notes, lastNotes) {
			for _, n := range notes {
				fmt.Fprintln(out, n)
			}
		}
		lastNotes = notes
		f := demoFrame(rt, c, decisions, time.Since(start))
		f.Notes = notes
		if tty {
			view.Draw(f)
		} else if f.Weight != lastWeight {
			fmt.Fprintln(out, f.Line())
		}
		lastWeight = f.Weight
		if c.Status.LastAppliedSpec == rev && (c.Status.Phase == v1beta1.PhaseSucceeded || c.Status.Phase == v1beta1.PhaseFailed) {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-run.done:
			return nil, run.stopped()
		case <-deadline:
			return nil, fmt.Errorf("the release did not end within %s (phase %s)", timeout, c.Status.Phase)
		case <-t.C:
		}
	}
}

func demoFrame(rt *local.Runtime, c *v1beta1.Canary, decisions []string, elapsed time.Duration) demo.Frame {
	now := time.Now()
	side := func(deploy, version string) demo.Side {
		st := rt.Telemetry().Stats(demoNamespace, deploy, now.Add(-10*time.Second), now)
		return demo.Side{Version: version, Requests: st.Requests, SuccessRate: st.SuccessRate, P99: st.P99}
	}
	primary := "1.7.0"
	switch c.Status.Phase {
	case v1beta1.PhasePromoting, v1beta1.PhaseFinalising, v1beta1.PhaseSucceeded:
		primary = "1.7.1" // the canary's spec has been copied to the primary
	}
	return demo.Frame{
		Phase: string(c.Status.Phase), Weight: c.Status.CanaryWeight,
		MaxWeight: c.Spec.Analysis.EffectiveMaxWeight(),
		Failed:    c.Status.FailedChecks, Threshold: c.Spec.Analysis.EffectiveThreshold(),
		Primary:   side(wlocal.PrimaryName(c), primary),
		Canary:    side(c.Spec.TargetRef.Name, "1.7.1"),
		Decisions: decisions, Elapsed: elapsed,
	}
}

func demoSummary(rt *local.Runtime, c *v1beta1.Canary, release time.Time) demo.Summary {
	now := time.Now()
	from := release.Add(-time.Second)
	p := rt.Telemetry().Stats(demoNamespace, wlocal.PrimaryName(c), from, now)
	k := rt.Telemetry().Stats(demoNamespace, c.Spec.TargetRef.Name, from, now)
	return demo.Summary{
		Promoted: c.Status.Phase == v1beta1.PhaseSucceeded,
		Phase:    string(c.Status.Phase),
		Duration: now.Sub(release),
		Served: []demo.Side{
			{Version: "primary", Requests: p.Requests},
			{Version: "canary", Requests: k.Requests},
		},
		Failures: p.Failures + k.Failures,
		Message:  c.Status.Message,
	}
}

// terminalWidth is the number of columns of the terminal w, 0 if unknown.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
