package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/local"
)

// defaultDashboardAddr is where serin dashboard and serin demo serve the
// dashboard.
const defaultDashboardAddr = "127.0.0.1:9999"

func newDashboardCommand() *cobra.Command {
	var (
		df     dashboardFlags
		listen string
	)
	cmd := &cobra.Command{
		Use:   "dashboard [--listen 127.0.0.1:9999] [--kubeconfig K] [--context C] [-n NS | -A] [--prometheus URL]",
		Short: "Serve a live web dashboard of the local instance or a cluster",
		Long: `dashboard serves a web page that shows the running local instance live: each
Canary's phase, traffic split, failed checks, metric verdicts and decisions,
each Deployment's golden metrics (success rate, RPS, P50/P95/P99) and pods, and
the events. It reads the instance through its API socket in the state
directory, and listens on loopback unless --listen says otherwise. serin demo
and serin run serve the same page with --dashboard.

The page can also promote, abort, pause, resume and retry a release, and
draws each Canary's history. Its API needs a token, made afresh each time the
dashboard starts and printed in the address (http://127.0.0.1:9999/#token=...):
open that address, or paste the token into the page.

With --kubeconfig or --context (or with no local instance running and a
kubeconfig present, as the kubectl-like commands choose), it shows a cluster
instead: what the kubeconfig's user may see in the context's namespace, -n's,
or every namespace with -A, from watches of the API server, with the golden
metrics from Linkerd's Prometheus given by --prometheus.`,
		Example: `  serin dashboard                       # then open the printed http://127.0.0.1:9999/#token=...
  serin dashboard --listen 127.0.0.1:0  # any free port
  serin dashboard --kubeconfig ~/.kube/config -n test --prometheus http://localhost:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := listenDashboard(listen, "--listen")
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			auth, err := dashboard.NewTokenAuth()
			if err != nil {
				_ = ln.Close()
				return err
			}
			src, where, watchErr, err := df.source(ctx, listen, cmd.ErrOrStderr())
			if err != nil {
				_ = ln.Close()
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "serin dashboard on %s (%s). Ctrl-C stops it.\n", dashboardURL(ln, auth), where)
			warnExposed(cmd.ErrOrStderr(), listen, "--listen")
			return serveDashboard(ctx, cancel, ln, src, auth, watchErr)
		},
	}
	df.add(cmd)
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
// until ctx ends; it returns the page's address with its token, and a
// function that waits for it to stop.
func startDashboard(ctx context.Context, ln net.Listener, stateDir string, errw io.Writer) (url string, wait func(), err error) {
	auth, err := dashboard.NewTokenAuth()
	if err != nil {
		_ = ln.Close()
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := dashboard.Serve(ctx, ln, newDashboard(ctx, ln, stateDir, auth)); err != nil {
			fmt.Fprintf(errw, "dashboard stopped: %v\n", err)
		}
	}()
	return dashboardURL(ln, auth), func() { <-done }, nil
}

// newDashboard is the dashboard of the runtime on stateDir: its API needs
// auth's token, and it answers only to loopback names when ln is loopback.
func newDashboard(ctx context.Context, ln net.Listener, stateDir string, auth *dashboard.TokenAuth) http.Handler {
	return dashboard.New(dashboard.Options{
		Source: local.NewClient(stateDir), Auth: auth, Addr: ln.Addr().String(), Context: ctx,
	})
}

// dashboardURL is the page's address with the token in its fragment, which
// the browser keeps to itself: it reaches no server log and no Referer.
func dashboardURL(ln net.Listener, auth *dashboard.TokenAuth) string {
	return "http://" + ln.Addr().String() + "/#token=" + auth.Token()
}

// warnExposed says so when the dashboard listens beyond this machine.
func warnExposed(w io.Writer, addr, flag string) {
	if !dashboard.IsLoopback(addr) {
		fmt.Fprintf(w, "warning: %s %s accepts connections from other machines; anyone who can read the token in the address can see and steer the releases, over plain HTTP\n", flag, addr)
	}
}
