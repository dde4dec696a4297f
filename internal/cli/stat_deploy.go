package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newStatDeployCommand is `serin stat deploy`: the golden metrics of the
// local instance's Deployments, with linkerd viz stat's columns.
func newStatDeployCommand() *cobra.Command {
	var (
		lf     localFlags
		from   string
		window time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy [--from deploy/load]",
		Short: "Show each Deployment's success rate, requests per second and latency (local instance)",
		Long: `stat deploy shows, per Deployment of the running local instance, the golden
metrics serin's proxy recorded over the window: SUCCESS, RPS and latency
percentiles, as linkerd viz stat deploy. --from is accepted for the
walkthrough's command line; locally the proxy sees every client, so the
numbers cover all traffic to each Deployment, not one client's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stats, err := lf.client().Stats(cmd.Context(), window)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tMESHED\tSUCCESS\tRPS\tLATENCY_P50\tLATENCY_P95\tLATENCY_P99\tTCP_CONN")
			for _, s := range stats {
				if lf.namespace != "" && s.Namespace != lf.namespace {
					continue
				}
				if !s.HasTraffic {
					fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", s.Namespace, s.Name, s.Meshed)
					continue
				}
				st := s.Stats
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f%%\t%.1frps\t%.0fms\t%.0fms\t%.0fms\t-\n",
					s.Namespace, s.Name, s.Meshed, st.SuccessRate, st.RPS, st.P50, st.P95, st.P99)
			}
			return tw.Flush()
		},
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&from, "from", "", "accepted for compatibility; the local proxy does not tell clients apart")
	cmd.Flags().DurationVarP(&window, "window", "t", time.Minute, "time window of the metrics")
	return cmd
}
