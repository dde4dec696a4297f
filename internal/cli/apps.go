package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/serinhq/serin/internal/demo"
)

// signalContext ends on SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// envDefaults sets each flag not given on the command line from
// PREFIX_<FLAG> (upper case, dashes as underscores), as podinfo reads
// PODINFO_* variables.
func envDefaults(fs *pflag.FlagSet, prefix string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := prefix + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}

// portDefault is $PORT, which the local runtime gives each process, or def.
func portDefault(def int) int {
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 {
		return p
	}
	return def
}

// listenLoopback listens on 127.0.0.1: the demo's programs are reached
// through serin's proxy, never from the network.
func listenLoopback(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w (pass --port to use another)", port, err)
	}
	return l, nil
}

func newPodinfoCommand() *cobra.Command {
	var (
		port                     int
		color, message, override string
		randomDelay, randomError bool
	)
	cmd := &cobra.Command{
		Use:   "podinfo",
		Short: "Serve podinfo's API (the demo's service)",
		Long: `Serve an HTTP service compatible with podinfo's API: GET / (info as JSON),
/version, /healthz, /readyz, POST /readyz/enable|disable, /status/{code},
/delay/{seconds}, /env, /headers, POST /echo, /metrics and /panic.

Flags may also be set as PODINFO_<FLAG> (PODINFO_UI_COLOR=#ff0000). The version
is --version-override, else the tag of the container image the local runtime
runs it as (SERIN_CONTAINER_IMAGE=quay.io/stefanprodan/podinfo:1.7.1 reports
1.7.1), else ` + demo.DefaultPodinfoVersion + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd.Flags(), "PODINFO"); err != nil {
				return err
			}
			version := override
			if version == "" {
				version = demo.VersionFromImage(os.Getenv("SERIN_CONTAINER_IMAGE"))
			}
			host := os.Getenv("HOSTNAME")
			seed := uint64(time.Now().UnixNano())
			p := demo.NewPodinfo(demo.PodinfoOptions{
				Version: version, Hostname: host, Color: color, Message: message,
				RandomDelay: randomDelay, RandomError: randomError,
				Rand: rand.New(rand.NewPCG(seed, uint64(os.Getpid()))),
				Exit: os.Exit,
			})
			l, err := listenLoopback(port)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "podinfo %s listening on %s\n", version, l.Addr())
			return demo.Serve(ctx, l, p)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", portDefault(9898), "HTTP port (default $PORT, else 9898)")
	f.StringVar(&color, "ui-color", "#34577c", "UI colour")
	f.StringVar(&message, "ui-message", "", "UI greeting (default \"greetings from podinfo v<version>\")")
	f.BoolVar(&randomDelay, "random-delay", false, "delay each request by up to 3s")
	f.BoolVar(&randomError, "random-error", false, "answer one request in three with 500, 400 or 409 (about 11% 5xx)")
	f.StringVar(&override, "version-override", "", "version to report")
	return cmd
}

func newLoadCommand() *cobra.Command {
	var opts demo.LoadOptions
	cmd := &cobra.Command{
		Use:   "load URL",
		Short: "Send requests at a constant rate and report success and latency",
		Long: `Send GET requests to URL at a constant rate (qps per stream, concurrency
streams, as slow_cooker counts) and print, each interval, good/bad/failed
requests, the success rate and latency percentiles. The rate does not drop
when responses are slow: each request starts on schedule.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.QPS <= 0 {
				return fmt.Errorf("--qps: must be positive, got %g", opts.QPS)
			}
			opts.URL = args[0]
			out := cmd.OutOrStdout()
			opts.Report = func(r demo.Report) { fmt.Fprintln(out, r) }
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			fmt.Fprintf(out, "# sending %g requests/s to %s; good/bad/failed success latency\n", opts.QPS*float64(max(opts.Concurrency, 1)), opts.URL)
			return demo.RunLoad(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&opts.QPS, "qps", 10, "requests per second of each stream")
	f.IntVar(&opts.Concurrency, "concurrency", 1, "number of request streams")
	f.DurationVar(&opts.Interval, "interval", 10*time.Second, "reporting interval")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "timeout of one request")
	return cmd
}

func newFrontendCommand() *cobra.Command {
	var (
		port     int
		upstream string
	)
	cmd := &cobra.Command{
		Use:   "frontend",
		Short: "Proxy every request to podinfo, like the walkthrough's nginx frontend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := demo.NewFrontend(upstream)
			if err != nil {
				return err
			}
			l, err := listenLoopback(port)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "frontend listening on %s, proxying to %s\n", l.Addr(), upstream)
			return demo.Serve(ctx, l, h)
		},
	}
	cmd.Flags().IntVar(&port, "port", portDefault(8080), "HTTP port (default $PORT, else 8080)")
	cmd.Flags().StringVar(&upstream, "upstream", "http://127.0.0.1:9898", "URL of podinfo")
	return cmd
}
