package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/local"
)

// defaultDashboardAddr is where serin dashboard and serin demo serve the
// dashboard.
const defaultDashboardAddr = "127.0.0.1:9999"

func newDashboardCommand() *cobra.Command {
	var (
		stateDir string
		listen   string
	)
	cmd := &cobra.Command{
		Use:   "dashboard [--listen 127.0.0.1:9999]",
		Short: "Serve a live web dashboard of the running local instance",
		Long: `dashboard serves a web page that shows the running local instance live: each
Canary's phase, traffic split, failed checks, metric verdicts and decisions,
each Deployment's golden metrics (success rate, RPS, P50/P95/P99) and pods, and
the events. It reads the instance through its API socket in the state
directory, and listens on loopback unless --listen says otherwise. serin demo
and serin run serve the same page with --dashboard.`,
		Example: `  serin dashboard                       # then open http://127.0.0.1:9999
  serin dashboard --listen 127.0.0.1:0  # any free port`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := listenDashboard(listen, "--listen")
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "serin dashboard on %s (state in %s). Ctrl-C stops it.\n", dashboardURL(ln), stateDir)
			warnExposed(cmd.ErrOrStderr(), listen, "--listen")
			return dashboard.Serve(ctx, ln, dashboard.New(dashboard.Options{Source: local.NewClient(stateDir)}))
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", local.DefaultStateDir(), "state directory of the local runtime ($SERIN_STATE_DIR)")
	cmd.Flags().StringVar(&listen, "listen", defaultDashboardAddr, "address to serve the dashboard on (host:port)")
	return cmd
}

// listenDashboard listens on addr for the dashboard, with an error that
// names the flag that sets it.
func listenDashboard(addr, flag string) (net.Listener, error) {
	ln, err := dashboard.Listen(addr)
	var inUse *dashboard.AddrInUseError
	switch {
	case errors.As(err, &inUse):
		return nil, fmt.Errorf("%s: address %s is already in use (another serin dashboard?); stop what uses it or pass %s=127.0.0.1:<another port>", flag, addr, flag)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return ln, nil
}

// startDashboard serves the dashboard of the runtime on stateDir on ln
// until ctx ends; the returned function waits for it to stop.
func startDashboard(ctx context.Context, ln net.Listener, stateDir string, errw io.Writer) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := dashboard.New(dashboard.Options{Source: local.NewClient(stateDir)})
		if err := dashboard.Serve(ctx, ln, h); err != nil {
			fmt.Fprintf(errw, "dashboard stopped: %v\n", err)
		}
	}()
	return func() { <-done }
}

func dashboardURL(ln net.Listener) string { return "http://" + ln.Addr().String() }

// warnExposed says so when the dashboard listens beyond this machine.
func warnExposed(w io.Writer, addr, flag string) {
	if !dashboard.IsLoopback(addr) {
		fmt.Fprintf(w, "warning: %s %s accepts connections from other machines; the dashboard has no authentication\n", flag, addr)
	}
}
