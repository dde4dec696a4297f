package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/cluster"
	"github.com/serinhq/serin/internal/local"
)

// normalizeGetKind adds the route kinds to local.NormalizeKind.
func normalizeGetKind(k string) string {
	switch strings.ToLower(k) {
	case "ts", "trafficsplit", "trafficsplits", "trafficsplit.split.smi-spec.io",
		"httproute", "httproutes", "httproute.gateway.networking.k8s.io", "route", "routes":
		return "route"
	}
	return local.NormalizeKind(k)
}

func newGetCommand() *cobra.Command {
	var (
		tf     targetFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "get canaries|deployments|trafficsplits|services|pods [NAME]",
		Short: "List objects of the local instance or a cluster",
		Long: `get lists Canaries, Deployments or traffic splits (TrafficSplits and
HTTPRoutes on a cluster; locally the Services serin's proxy splits), of the
running local instance or, with --kubeconfig or --context (or when no local
instance runs and a kubeconfig is present), of a cluster. On a cluster both
serin.dev and flagger.app Canaries are listed. services and pods are served
locally only: on a cluster use kubectl get.`,
		ValidArgs: []string{"canaries", "deployments", "trafficsplits", "httproutes", "services", "pods"},
		Args:      cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tf.target()
			if err != nil {
				return err
			}
			ns, err := tf.ns(t)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			var data getData
			ctx := cmd.Context()
			switch kind := normalizeGetKind(args[0]); kind {
			case "canary":
				data.canaries, err = t.Canaries(ctx, ns)
			case "deployment":
				data.deployments, err = t.Deployments(ctx, ns)
			case "route":
				data.routes, err = t.Routes(ctx, ns)
			case "service", "pod":
				lt, ok := t.(localTarget)
				if !ok {
					return fmt.Errorf("get %s: not served on a cluster: use kubectl get %s", args[0], args[0])
				}
				data.snap, err = lt.c.Snapshot(ctx)
			}
			if err != nil {
				return err
			}
			return printGet(cmd.OutOrStdout(), data, normalizeGetKind(args[0]), ns, name, output)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, yaml or json")
	return cmd
}

// getData is what get prints: the list of the kind asked for.
type getData struct {
	canaries    []v1beta1.Canary
	deployments []local.DeploymentView
	routes      []cluster.Route
	snap        local.Snapshot // services and pods
}

func keep(ns, name, wantNS, wantName string) bool {
	return (wantNS == "" || ns == wantNS) && (wantName == "" || name == wantName)
}

func printGet(w io.Writer, data getData, kind, ns, name, output string) error {
	var items []any
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	wide := output == "wide"
	switch kind {
	case "canary":
		fmt.Fprint(tw, "NAMESPACE\tNAME\tSTATUS\tWEIGHT\tLASTTRANSITIONTIME")
		if wide {
			fmt.Fprint(tw, "\tFAILEDCHECKS\tMESSAGE")
		}
		fmt.Fprintln(tw)
		for _, c := range data.canaries {
			if !keep(c.Namespace, c.Name, ns, name) {
				continue
			}
			items = append(items, c)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s", c.Namespace, c.Name, c.Status.Phase, c.Status.CanaryWeight,
				c.Status.LastTransitionTime.UTC().Format(time.RFC3339))
			if wide {
				fmt.Fprintf(tw, "\t%d\t%s", c.Status.FailedChecks, c.Status.Message)
			}
			fmt.Fprintln(tw)
		}
	case "deployment":
		fmt.Fprint(tw, "NAMESPACE\tNAME\tREADY\tUP-TO-DATE\tAVAILABLE")
		if wide {
			fmt.Fprint(tw, "\tCONTAINERS\tIMAGES\tREVISION\tREASON")
		}
		fmt.Fprintln(tw)
		for _, d := range data.deployments {
			dep := d.Deployment
			if !keep(dep.Namespace, dep.Name, ns, name) {
				continue
			}
			items = append(items, d)
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d", dep.Namespace, dep.Name, d.Ready, *dep.Spec.Replicas, d.UpToDate, d.Ready)
			if wide {
				var names, images []string
				for _, c := range dep.Spec.Template.Spec.Containers {
					names, images = append(names, c.Name), append(images, c.Image)
				}
				fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s", strings.Join(names, ","), strings.Join(images, ","), d.Revision, d.Reason)
			}
			fmt.Fprintln(tw)
		}
	case "service":
		fmt.Fprint(tw, "NAMESPACE\tNAME\tADDRESS\tBACKENDS")
		if wide {
			fmt.Fprint(tw, "\tSELECTOR\tCANARY")
		}
		fmt.Fprintln(tw)
		for _, s := range data.snap.Services {
			if !keep(s.Service.Namespace, s.Service.Name, ns, name) {
				continue
			}
			items = append(items, s)
			var bs []string
			for _, b := range s.Backends {
				bs = append(bs, fmt.Sprintf("%s=%d(%d ready)", b.Deployment, b.Weight, len(b.Endpoints)))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s", s.Service.Namespace, s.Service.Name, strings.Join(s.Addresses, ","), orNone(strings.Join(bs, ",")))
			if wide {
				var sel []string
				for k, v := range s.Service.Spec.Selector {
					sel = append(sel, k+"="+v)
				}
				slices.Sort(sel)
				fmt.Fprintf(tw, "\t%s\t%s", orNone(strings.Join(sel, ",")), orNone(s.Canary))
			}
			fmt.Fprintln(tw)
		}
	case "pod":
		fmt.Fprint(tw, "NAMESPACE\tNAME\tREADY\tSTATUS\tRESTARTS\tAGE")
		if wide {
			fmt.Fprint(tw, "\tADDRESS\tPIDS\tREASON")
		}
		fmt.Fprintln(tw)
		for _, p := range data.snap.Pods {
			if !keep(p.Namespace, p.Name, ns, name) {
				continue
			}
			items = append(items, p)
			ready, status := "0/1", "Pending"
			switch {
			case p.Terminating:
				status = "Terminating"
			case p.Ready:
				ready, status = "1/1", "Running"
			case p.Running:
				status = "Running"
			case p.Restarts > 0:
				status = "CrashLoopBackOff"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s", p.Namespace, p.Name, ready, status, p.Restarts, time.Since(p.Started).Round(time.Second))
			if wide {
				fmt.Fprintf(tw, "\t127.0.0.1:%d\t%v\t%s", p.Port, p.PIDs, p.Reason)
			}
			fmt.Fprintln(tw)
		}
	case "route":
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tKIND\tBACKENDS")
		for _, r := range data.routes {
			if !keep(r.Namespace, r.Name, ns, name) {
				continue
			}
			items = append(items, r)
			var bs []string
			for _, b := range r.Backends {
				bs = append(bs, fmt.Sprintf("%s=%d", b.Name, b.Weight))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Kind, orNone(strings.Join(bs, ",")))
		}
	default:
		return fmt.Errorf("unknown resource type %q: want canaries, deployments, trafficsplits, services or pods", kind)
	}
	switch output {
	case "json":
		b, err := json.MarshalIndent(map[string]any{"items": items}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(map[string]any{"items": items})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "", "wide":
		if len(items) == 0 {
			_, err := fmt.Fprintln(w, "No resources found.")
			return err
		}
		return tw.Flush()
	default:
		return fmt.Errorf("--output: must be wide, yaml or json, got %q", output)
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
