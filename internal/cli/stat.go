package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/proxy"
)

// newStatCommand is `serin stat --proxy ADDR`: the golden metrics of a
// standalone proxy's backends, as linkerd viz stat shows them.
func newStatCommand() *cobra.Command {
	var (
		addr, output string
		window       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "stat --proxy ADDR",
		Short: "Show golden metrics (success rate, RPS, latency)",
		Long: `stat --proxy prints, per backend of a serin proxy, the success rate, requests
per second and latency percentiles over the window, read from the proxy's
admin API (GET /stats).`,
		Example: `  serin stat --proxy 127.0.0.1:18090
  serin stat --proxy 127.0.0.1:18090 -t 5m -o wide
  serin stat --proxy unix:$XDG_RUNTIME_DIR/serin-proxy.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				return errors.New("stat: --proxy is required (or use a subcommand)")
			}
			if output != "" && output != "json" && output != "wide" {
				return fmt.Errorf("stat: -o must be json or wide, got %q", output)
			}
			client, host := adminClient(addr)
			u := url.URL{Scheme: "http", Host: host, Path: "/stats", RawQuery: url.Values{"window": {window.String()}}.Encode()}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u.String(), nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("stat: %w", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			if err != nil {
				return fmt.Errorf("stat: %w", err)
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("stat: %s answered %s: %s", addr, resp.Status, body)
			}
			var sr proxy.StatsResponse
			if err := json.Unmarshal(body, &sr); err != nil {
				return fmt.Errorf("stat: decode: %w", err)
			}
			return printProxyStats(cmd.OutOrStdout(), sr, output)
		},
	}
	cmd.Flags().StringVar(&addr, "proxy", "", "admin address of a serin proxy: host:port, or unix:PATH for its unix socket")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or wide")
	cmd.Flags().DurationVarP(&window, "window", "t", time.Minute, "time window of the metrics")
	cmd.AddCommand(newStatKindCommands()...)
	return cmd
}

// adminClient returns a client for the admin API at addr, host:port or
// unix:PATH, and the host to put in its URLs.
func adminClient(addr string) (*http.Client, string) {
	client := &http.Client{Timeout: 10 * time.Second}
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return client, addr
	}
	client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	return client, "proxy-admin"
}

func printProxyStats(w io.Writer, sr proxy.StatsResponse, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sr.Backend)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := "NAME\tSUCCESS\tRPS\tLATENCY_P50\tLATENCY_P95\tLATENCY_P99"
	if output == "wide" {
		header = "NAMESPACE\t" + header + "\tREQUESTS\tFAILURES"
	}
	fmt.Fprintln(tw, header)
	for _, b := range sr.Backend {
		row := fmt.Sprintf("%s\t%s\t%.1frps\t%s\t%s\t%s", b.Deployment, percent(b.SuccessRate), b.RPS, millis(b.P50), millis(b.P95), millis(b.P99))
		if output == "wide" {
			row = fmt.Sprintf("%s\t%s\t%d\t%d", b.Namespace, row, b.Requests, b.Failures)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func percent(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *v)
}

func millis(v *float64) string {
	if v == nil {
		return "-"
	}
	if *v < 10 {
		return fmt.Sprintf("%.1fms", *v)
	}
	return fmt.Sprintf("%.0fms", *v)
}
