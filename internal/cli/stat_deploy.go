package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/metrics/prometheus"
)

// defaultPrometheus is the controller's default --metrics-server.
const defaultPrometheus = "http://prometheus:9090"

// statFlags are the flags of stat deploy, po and ts.
type statFlags struct {
	tf         targetFlags
	from       string
	window     time.Duration
	prometheus string
	output     string
	at         string
}

// time is when the metrics are evaluated: --time, or now.
func (f *statFlags) time() (time.Time, error) {
	if f.at == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, f.at)
	if err != nil {
		return time.Time{}, fmt.Errorf("--time: want an RFC 3339 time such as 2026-01-02T15:04:05Z: %w", err)
	}
	return t, nil
}

func (f *statFlags) add(cmd *cobra.Command) {
	f.tf.add(cmd)
	cmd.Flags().StringVar(&f.from, "from", "", "accepted for compatibility; the numbers cover every client (locally the proxy does not tell clients apart; on a cluster they are the inbound metrics)")
	cmd.Flags().DurationVarP(&f.window, "window", "t", time.Minute, "time window of the metrics")
	cmd.Flags().StringVar(&f.prometheus, "prometheus", defaultPrometheus, "on a cluster: Prometheus with Linkerd's metrics (e.g. http://localhost:9090 after `kubectl -n linkerd-viz port-forward svc/prometheus 9090`)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: json")
	cmd.Flags().StringVar(&f.at, "time", "", "on a cluster: evaluate the metrics at this time (RFC 3339; default now), e.g. to look back at a release")
}

// cluster returns the cluster client and Prometheus of a stat on a
// cluster, or nil when the target is the local instance.
func (f *statFlags) cluster() (target, *prometheus.Client, error) {
	if f.output != "" && f.output != "json" {
		return nil, nil, fmt.Errorf("stat: -o must be json, got %q", f.output)
	}
	t, err := f.tf.target()
	if err != nil {
		return nil, nil, err
	}
	if _, ok := t.(clusterTarget); !ok {
		if f.at != "" {
			return nil, nil, errors.New("--time: served on a cluster only; the local instance keeps the last minutes in memory")
		}
		return t, nil, nil
	}
	q, err := prometheus.NewClient(prometheus.Config{Address: f.prometheus})
	if err != nil {
		return nil, nil, fmt.Errorf("--prometheus: %w", err)
	}
	return t, q, nil
}

// newStatKindCommands are `serin stat deploy|po|ts`: linkerd viz stat's
// table, locally from serin's proxy, on a cluster from Linkerd's metrics
// in Prometheus.
func newStatKindCommands() []*cobra.Command {
	var fd, fp, fr statFlags
	deploy := &cobra.Command{
		Use:     "deploy [-n NS] [--prometheus URL]",
		Aliases: []string{"deployment", "deployments"},
		Short:   "Show each Deployment's success rate, requests per second and latency",
		Long: `stat deploy shows, per Deployment, the golden metrics over the window:
MESHED, SUCCESS, RPS, latency percentiles and TCP_CONN, as linkerd viz stat
deploy. Locally they are what serin's proxy recorded. On a cluster they come
from Linkerd's metrics in Prometheus (--prometheus), by Linkerd's own
queries: increase(response_total{direction="inbound"}[window]) for SUCCESS
and RPS, histogram_quantile over irate(response_latency_ms_bucket[window])
for the latencies, tcp_open_connections for TCP_CONN.`,
		Example: `  serin stat deploy -n test
  serin stat deploy -n test --kubeconfig ~/.kube/config --prometheus http://localhost:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, q, err := fd.cluster()
			if err != nil {
				return err
			}
			ns, err := fd.tf.ns(t)
			if err != nil {
				return err
			}
			var rows []cluster.StatRow
			if q == nil {
				rows, err = localStatRows(cmd.Context(), t.(localTarget), ns, fd.window)
			} else {
				var at time.Time
				if at, err = fd.time(); err != nil {
					return err
				}
				rows, err = t.(clusterTarget).Stat(cmd.Context(), q, cluster.StatDeployment, ns, fd.window, at)
			}
			if err != nil {
				return err
			}
			return printStatRows(cmd.OutOrStdout(), rows, fd.output)
		},
	}
	fd.add(deploy)
	po := &cobra.Command{
		Use:     "po [-n NS] [--prometheus URL]",
		Aliases: []string{"pod", "pods"},
		Short:   "Show each pod's success rate, requests per second and latency (cluster)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, q, err := fp.cluster()
			if err != nil {
				return err
			}
			if q == nil {
				return fmt.Errorf("stat po: served on a cluster only; locally use serin stat deploy")
			}
			ns, err := fp.tf.ns(t)
			if err != nil {
				return err
			}
			at, err := fp.time()
			if err != nil {
				return err
			}
			rows, err := t.(clusterTarget).Stat(cmd.Context(), q, cluster.StatPod, ns, fp.window, at)
			if err != nil {
				return err
			}
			return printStatRows(cmd.OutOrStdout(), rows, fp.output)
		},
	}
	fp.add(po)
	ts := &cobra.Command{
		Use:     "ts [-n NS] [--prometheus URL]",
		Aliases: []string{"trafficsplit", "trafficsplits", "routes", "httproutes"},
		Short:   "Show each traffic split's leaves: weight, success rate, requests per second and latency (cluster)",
		Long: `stat ts shows a row per backend of every TrafficSplit and HTTPRoute with
its weight and the inbound metrics of the Deployment its Service selects
(what that leaf served, from every client).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, q, err := fr.cluster()
			if err != nil {
				return err
			}
			if q == nil {
				return fmt.Errorf("stat ts: served on a cluster only; locally use serin stat deploy and serin get services")
			}
			ns, err := fr.tf.ns(t)
			if err != nil {
				return err
			}
			at, err := fr.time()
			if err != nil {
				return err
			}
			rows, err := t.(clusterTarget).StatRoutes(cmd.Context(), q, ns, fr.window, at)
			if err != nil {
				return err
			}
			if fr.output == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tAPEX\tLEAF\tWEIGHT\tSUCCESS\tRPS\tLATENCY_P50\tLATENCY_P95\tLATENCY_P99")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Namespace, r.Apex, r.Leaf, r.Weight, statColumns(r.StatRow, false))
			}
			return tw.Flush()
		},
	}
	fr.add(ts)
	return []*cobra.Command{deploy, po, ts}
}

// localStatRows are the local instance's Deployments' stats as rows.
func localStatRows(ctx context.Context, t localTarget, ns string, window time.Duration) ([]cluster.StatRow, error) {
	stats, err := t.c.Stats(ctx, window)
	if err != nil {
		return nil, err
	}
	var rows []cluster.StatRow
	for _, s := range stats {
		if ns != "" && s.Namespace != ns {
			continue
		}
		rows = append(rows, cluster.StatRow{
			Namespace: s.Namespace, Name: s.Name, Meshed: s.Meshed, HasTraffic: s.HasTraffic,
			Success: s.Stats.SuccessRate, RPS: s.Stats.RPS, P50: &s.Stats.P50, P95: &s.Stats.P95, P99: &s.Stats.P99,
		})
	}
	return rows, nil
}

func printStatRows(w io.Writer, rows []cluster.StatRow, output string) error {
	if output == "json" {
		return writeJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tMESHED\tSUCCESS\tRPS\tLATENCY_P50\tLATENCY_P95\tLATENCY_P99\tTCP_CONN")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Meshed, statColumns(r, true))
	}
	return tw.Flush()
}

// statColumns are SUCCESS, RPS, the latencies and, with tcp, TCP_CONN, as
// linkerd viz stat prints them; "-" without traffic.
func statColumns(r cluster.StatRow, tcp bool) string {
	cols := "-\t-\t-\t-\t-"
	if r.HasTraffic {
		ms := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return fmt.Sprintf("%.0fms", *v)
		}
		cols = fmt.Sprintf("%.2f%%\t%.1frps\t%s\t%s\t%s", r.Success, r.RPS, ms(r.P50), ms(r.P95), ms(r.P99))
	}
	if tcp {
		conn := "-"
		if r.TCPConn != nil {
			conn = fmt.Sprintf("%.0f", *r.TCPConn)
		}
		cols += "\t" + conn
	}
	return cols
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
