package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/loadtester"
	"github.com/serinhq/serin/internal/svcnames"
)

// newLoadtesterCommand is `serin loadtester`: Flagger's loadtester API.
func newLoadtesterCommand() *cobra.Command {
	var (
		port      int
		addr      string
		tokenFile string
		opts      loadtester.Options
	)
	cmd := &cobra.Command{
		Use:   "loadtester",
		Short: "Serve Flagger's loadtester API: hey load, acceptance commands and manual gates for webhooks",
		Long: `loadtester serves the API of Flagger's flagger-loadtester, so Canaries that call
it run unchanged: POST / runs the task in the webhook's metadata ("hey ..." runs
serin's own load generator with hey's flags; other commands only with
--allow-exec or --allow-command), /gate/... and /rollback/... are manual gates
keyed by Canary, /healthz and /metrics.

It listens on 127.0.0.1 unless --addr says otherwise: in a pod, pass
--addr=:8080 (deploy/kustomize/loadtester does).`,
		Example: `  serin loadtester --port 8080
  curl -d '{"name":"podinfo","namespace":"test"}' http://127.0.0.1:8080/gate/open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				if opts.Token = strings.TrimSpace(string(b)); opts.Token == "" {
					return fmt.Errorf("--token-file %s: the file is empty", tokenFile)
				}
			}
			if addr == "" {
				addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			opts.Registry, opts.Logger = reg, log
			if names := os.Getenv(svcnames.EnvVar); names != "" {
				// Run by serin run: Kubernetes Service names reach the
				// local Services.
				opts.Dial = (&svcnames.Dialer{Table: svcnames.FileTable(names)}).DialContext
			}
			srv, err := loadtester.New(opts)
			if err != nil {
				return err
			}
			defer srv.Close()
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (pass --port or --addr to use another)", addr, err)
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(l) }()
			log.Info("loadtester listening", "addr", l.Addr().String(), "allowExec", opts.AllowExec,
				"allowCommands", opts.AllowCommands, "token", opts.Token != "")
			fmt.Fprintf(cmd.ErrOrStderr(), "serin loadtester listening on %s\n", l.Addr())
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			// Blocking tasks end with their requests; background ones are
			// cancelled by srv.Close.
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("shut down: %w", err)
			}
			_ = hs.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", portDefault(8080), "port to listen on, on 127.0.0.1 (default $PORT, else 8080)")
	f.StringVar(&addr, "addr", "", "address to listen on, e.g. :8080 for every interface (overrides --port)")
	f.StringVar(&tokenFile, "token-file", "", "file holding a token that task and gate requests must send (Authorization: Bearer)")
	f.BoolVar(&opts.AllowExec, "allow-exec", false, "run any command of a task through sh -c, as Flagger's loadtester (anyone who reaches the loadtester can run commands)")
	f.StringSliceVar(&opts.AllowCommands, "allow-command", nil, "command names a task may run directly, without a shell (e.g. curl,helm)")
	f.DurationVar(&opts.Timeout, "timeout", loadtester.DefaultTimeout, "longest a task may run")
	return cmd
}
