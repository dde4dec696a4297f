package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/hooks"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/manifest"
	"github.com/serinhq/serin/internal/metrics"
	"github.com/serinhq/serin/internal/metrics/builtin"
	"github.com/serinhq/serin/internal/notify"
)

// localFlags are the flags of every command that talks to a local runtime.
type localFlags struct {
	stateDir  string
	namespace string
}

func (f *localFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", local.DefaultStateDir(), "state directory of the local runtime ($SERIN_STATE_DIR)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace (default: every namespace for get, \"test\" or the only match otherwise)")
}

func (f *localFlags) client() *local.Client { return local.NewClient(f.stateDir) }

// newLocalEngine wires the engine of the local runtime: metrics from the
// proxy's telemetry (or Prometheus when a Canary names a metrics server),
// MetricTemplates from the runtime, webhooks, and events sent to the
// Canary's event webhooks and AlertProviders.
func newLocalEngine(a local.Adapters) local.Engine {
	src := metrics.New(metrics.Options{
		Builtin:   builtin.New(a.Telemetry, time.Now),
		Templates: metrics.TemplateLookup(a.Templates),
		Now:       time.Now,
		Transport: a.Dialer.Transport,
	})
	webhooks := hooks.New(hooks.Options{Now: time.Now, Client: &http.Client{Transport: a.Dialer.Transport()},
		OnEventError: func(err error) { a.Logger.Warn("event webhook", "err", err) }})
	alerts := notify.New(notify.Options{
		Providers: notify.ProviderLookup(a.Providers),
		Now:       time.Now,
		OnError:   func(err error) { a.Logger.Warn("alert not sent", "err", err) },
		Transport: a.Dialer.Transport,
	})
	return engine.New(a.Workload, a.Router, src, webhooks, notify.Multi{webhooks, alerts})
}

// loadManifests reads manifests for the local runtime and validates them
// as serin validate --local does; with forDelete, only their fields, since
// what is deleted need not be runnable.
func loadManifests(stdin io.Reader, forDelete bool, paths ...string) (*manifest.Set, error) {
	loader := manifest.Loader{Stdin: stdin}
	set, err := loader.Load(paths...)
	if err == nil {
		if forDelete {
			err = set.Validate(v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal, NoCluster: true})
		} else {
			err = local.Validate(set)
		}
	}
	if err != nil {
		return nil, invalidManifests(err)
	}
	return set, nil
}

// invalidManifests prints manifest.Problems one a line under a heading;
// other errors are returned as they are.
func invalidManifests(err error) error {
	var ps manifest.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.Error()
	}
	return fmt.Errorf("invalid manifests:\n%s", strings.Join(lines, "\n"))
}

func objectsOf(set *manifest.Set) []any {
	objs := make([]any, 0, len(set.Objects))
	for _, o := range set.Objects {
		objs = append(objs, any(o.Object).(runtime.Object))
	}
	return objs
}

// warnLogger logs the runtime's warnings and errors to w.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newRunCommand() *cobra.Command {
	var (
		lf       localFlags
		files    []string
		reset    bool
		dashAddr string
	)
	cmd := &cobra.Command{
		Use:   "run [DIR|FILE]... [-f FILE]...",
		Short: "Run manifests locally: Deployments as processes, Services on 127.0.0.1, Canaries released",
		Long: `run starts the local runtime in the foreground: each Deployment's containers run
as local processes (command and args; a command named serin runs this binary),
each Service listens on 127.0.0.1:<port> through serin's proxy, and each Canary
is released as on Kubernetes. It prints the events as they happen; Ctrl-C stops
every process. The state (objects, releases, events, logs) lives in the state
directory, so a later run resumes where this one stopped. Talk to a running
instance with serin get, describe, events, set, apply, promote, logs and stat.`,
		Example: `  serin run -f examples/podinfo/local -f examples/podinfo/canary.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := append(append([]string(nil), args...), files...)
			var set *manifest.Set
			if len(paths) > 0 {
				var err error
				if set, err = loadManifests(cmd.InOrStdin(), false, paths...); err != nil {
					return err
				}
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			out := cmd.OutOrStdout()
			var dashURL string
			if dashAddr != "" {
				ln, err := listenDashboard(dashAddr, "--dashboard")
				if err != nil {
					return err
				}
				dctx, stopDash := context.WithCancel(context.WithoutCancel(ctx))
				url, waitDash, err := startDashboard(dctx, ln, lf.stateDir, cmd.ErrOrStderr())
				if err != nil {
					stopDash()
					return err
				}
				defer waitDash()
				defer stopDash()
				dashURL = url
				warnExposed(cmd.ErrOrStderr(), dashAddr, "--dashboard")
			}
			rt, err := local.Open(local.Options{
				StateDir: lf.stateDir, Reset: reset, Logger: warnLogger(cmd.ErrOrStderr()),
				NewEngine: newLocalEngine,
			})
			if err != nil {
				return err
			}
			if set != nil {
				// Nothing is saved unless the whole set, with the state
				// it joins, is accepted.
				lines, err := rt.ApplyManifests(set)
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
				if err != nil {
					_ = rt.Close()
					return invalidManifests(err)
				}
			}
			fmt.Fprintf(out, "serin is running; state in %s. Ctrl-C stops it.\n", lf.stateDir)
			if dashURL != "" {
				fmt.Fprintf(out, "Dashboard on %s\n", dashURL)
			}
			go printEvents(ctx, rt, out, 0)
			return rt.Run(ctx, rt.ServeAPI)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory (repeatable)")
	cmd.Flags().BoolVar(&reset, "reset", false, "forget the state of the last run and start afresh")
	cmd.Flags().StringVar(&dashAddr, "dashboard", "", "also serve the live web dashboard on this address (host:port, e.g. "+defaultDashboardAddr+")")
	return cmd
}

// printEvents prints the runtime's events after seq until ctx ends.
func printEvents(ctx context.Context, rt *local.Runtime, w io.Writer, seq int64) {
	for {
		evs, changed := rt.Events(seq)
		for _, e := range evs {
			fmt.Fprintln(w, e)
			seq = e.Seq
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// resolveNamespace finds the namespace of a named object when -n is not given:
// the only namespace with an object of that name.
func resolveNamespace(ns string, candidates []string) (string, error) {
	if ns != "" {
		return ns, nil
	}
	switch len(candidates) {
	case 0:
		return "", local.ErrNotFound
	case 1:
		return candidates[0], nil
	default:
		return "", fmt.Errorf("found in namespaces %s: pass -n", strings.Join(candidates, ", "))
	}
}
