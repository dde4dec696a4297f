package proxycmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/proxy"
	"github.com/serinhq/serin/internal/telemetry"
)

const defaultProxyAdmin = "127.0.0.1:9990"

// New returns the proxy command: the data plane on its own, as `serin
// proxy` and as the slim `serin-proxy` binary, which links nothing else.
func New() *cobra.Command {
	var (
		config, admin, token, tokenFile string
		drain, header                   time.Duration
		seed                            uint64
		eventLoop, pprof                bool
	)
	cmd := &cobra.Command{
		Use:   "proxy --config FILE",
		Short: "Run serin's traffic-splitting proxy standalone",
		Long: `proxy serves the routes of a YAML (or JSON) file: it splits each route's
requests between its backends by weight, with A/B matches, mirroring and
sticky sessions, and records golden metrics per backend.

The admin API listens on loopback (the file's "admin", or --admin; a
unix socket with unix:PATH): GET/PUT /routes, GET /stats?window=1m,
GET /metrics (Linkerd's metric names), GET /healthz and GET /readyz, and
/debug/pprof/ with --pprof. Every write needs the admin token as a bearer
token: --admin-token, or the contents of --admin-token-file; without
either a token is generated and written to a file only the user can read,
whose path is logged. SIGINT or SIGTERM drains and stops.`,
		Example: `  serin proxy --config examples/proxy/split-90-10.yaml
  serin stat --proxy 127.0.0.1:18090
  curl -X PUT -H "Authorization: Bearer $(cat TOKEN_FILE)" --data-binary @routes.yaml http://127.0.0.1:18090/routes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(config)
			if err != nil {
				return fmt.Errorf("read proxy config: %w", err)
			}
			f, err := proxy.ParseFile(data)
			if err != nil {
				return fmt.Errorf("proxy config %s: %w", config, err)
			}
			if admin != "" {
				f.Admin = admin
			}
			if f.Admin == "" {
				f.Admin = defaultProxyAdmin
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			tok, err := adminToken(token, tokenFile, f.Admin, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := proxy.Options{Seed: seed, DrainTimeout: drain, HeaderTimeout: header, DisableEventLoop: !eventLoop}
			return runProxy(ctx, f, opts, proxy.AdminOptions{Token: tok, Pprof: pprof}, log)
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "proxy configuration file (YAML or JSON)")
	cmd.Flags().StringVar(&admin, "admin", "", "admin API address, host:port or unix:PATH (overrides the file's; default "+defaultProxyAdmin+")")
	cmd.Flags().StringVar(&token, "admin-token", "", "bearer token the admin API's writes need (visible to other users in the process list: prefer --admin-token-file)")
	cmd.Flags().StringVar(&tokenFile, "admin-token-file", "", "file holding the admin token; created with a new token (mode 0600) when missing")
	cmd.Flags().BoolVar(&pprof, "pprof", false, "serve Go's profiles on the admin API under /debug/pprof/")
	cmd.Flags().DurationVar(&drain, "drain-timeout", 30*time.Second, "how long to let in-flight requests finish on shutdown")
	cmd.Flags().DurationVar(&header, "header-timeout", proxy.DefaultHeaderTimeout, "how long a client may take to send a request head, from its first byte (routes' headerTimeout overrides it)")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed of the backend choice (0: random)")
	cmd.Flags().BoolVar(&eventLoop, "event-loop", true, "serve HTTP/1.1 with an epoll event loop per listener (Linux); false serves it with goroutines")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runProxy(ctx context.Context, f proxy.File, opts proxy.Options, adminOpts proxy.AdminOptions, log *slog.Logger) error {
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	store := telemetry.NewStore()
	go store.Run(ctx)
	opts.Store, opts.Logger = store, log
	p, err := proxy.New(opts)
	if err != nil {
		return err
	}
	if err := p.Apply(f.Config); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := listenAdmin(f.Admin, log)
	if err != nil {
		_ = p.Shutdown(context.Background())
		return err
	}
	srv := &http.Server{Handler: proxy.AdminHandler(p, reg, time.Now, adminOpts), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("proxy started", "admin", ln.Addr().String(), "routes", len(f.Routes))

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("admin server: %w", err)
	}
	log.Info("proxy draining", "timeout", opts.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), opts.DrainTimeout)
	defer cancel()
	if serr := p.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
