package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

// newLocalCommands returns the kubectl-like commands that talk to a
// running local runtime.
func newLocalCommands() []*cobra.Command {
	cmds := []*cobra.Command{
		newApplyCommand(false), newApplyCommand(true), newGetCommand(), newDescribeCommand(),
		newEventsCommand(), newSetCommand(), newLogsCommand(),
	}
	for _, c := range rollout.Commands() {
		cmds = append(cmds, newCanaryCommand(c))
	}
	return cmds
}

func newApplyCommand(del bool) *cobra.Command {
	var (
		lf      localFlags
		files   []string
		wait    bool
		timeout time.Duration
	)
	use, short := "apply", "Create or update objects in the running local instance"
	if del {
		use, short = "delete", "Delete objects from the running local instance"
	}
	cmd := &cobra.Command{
		Use:   use + " -f FILE|DIR",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("no manifests given: use -f FILE|DIR")
			}
			set, err := loadManifests(cmd.InOrStdin(), del, files...)
			if err != nil {
				return err
			}
			objs := objectsOf(set)
			c := lf.client()
			var lines []string
			if del {
				lines, err = c.Delete(cmd.Context(), objs...)
			} else {
				lines, err = c.Apply(cmd.Context(), objs...)
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			if err != nil || !del || !wait {
				return err
			}
			return waitDeleted(cmd.Context(), cmd.OutOrStdout(), c, objs, timeout)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory, or - for standard input (repeatable)")
	if del {
		cmd.Flags().BoolVar(&wait, "wait", true, "wait until deleted Canaries are gone (with spec.revertOnDeletion, once the target is restored)")
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	}
	return cmd
}

// waitDeleted waits until none of the Canaries among objs is left in the
// local instance, as kubectl delete waits for finalizers.
func waitDeleted(ctx context.Context, w io.Writer, c *local.Client, objs []any, timeout time.Duration) error {
	type ref struct{ ns, name string }
	var pending []ref
	for _, o := range objs {
		if cn, ok := o.(*v1beta1.Canary); ok {
			ns := cn.Namespace
			if ns == "" {
				ns = "default"
			}
			pending = append(pending, ref{ns, cn.Name})
		}
	}
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		snap, err := c.Snapshot(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		left := pending[:0]
		var why []string
		for _, p := range pending {
			if cn := findCanary(snap.Canaries, p.ns, p.name); cn != nil {
				left = append(left, p)
				why = append(why, fmt.Sprintf("canary %s/%s: %s: %s", p.ns, p.name, cn.Status.Phase, cn.Status.Message))
				continue
			}
			fmt.Fprintf(w, "canary/%s deleted\n", p.name)
		}
		pending = left
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for the deletion (--timeout): %s", timeout, strings.Join(why, "; "))
		case <-tick.C:
		}
	}
}

func findCanary(cs []v1beta1.Canary, ns, name string) *v1beta1.Canary {
	for i := range cs {
		if cs[i].Namespace == ns && cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func newDescribeCommand() *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:   "describe canary NAME",
		Short: "Show a Canary's spec, status, metrics and last decisions",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if local.NormalizeKind(args[0]) != "canary" {
				return fmt.Errorf("describe: only canaries can be described, got %q", args[0])
			}
			t, err := tf.target()
			if err != nil {
				return err
			}
			cn, err := findCanaryIn(cmd.Context(), t, &tf, args[1])
			if err != nil {
				return err
			}
			ns := cn.Namespace
			w := cmd.OutOrStdout()
			spec, _ := yaml.Marshal(cn.Spec)
			st := cn.Status
			fmt.Fprintf(w, "Name:       %s\nNamespace:  %s\n", cn.Name, cn.Namespace)
			if cn.APIVersion != "" {
				fmt.Fprintf(w, "API:        %s\n", cn.APIVersion)
			}
			fmt.Fprintf(w, "Strategy:   %s\n\nSpec:\n%s\n", cn.Strategy(), indent(string(spec), "  "))
			fmt.Fprintf(w, "Status:\n  Phase:          %s\n  Canary weight:  %d\n  Failed checks:  %d\n  Revision:       %s (promoted %s)\n  Last change:    %s\n  Message:        %s\n",
				st.Phase, st.CanaryWeight, st.FailedChecks, orNone(st.LastAppliedSpec), orNone(st.LastPromotedSpec),
				st.LastTransitionTime.UTC().Format(time.RFC3339), st.Message)
			if len(st.Metrics) > 0 {
				fmt.Fprintln(w, "\nMetrics:")
				tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "  NAME\tVERDICT\tSAMPLES\tREASON")
				for _, m := range st.Metrics {
					fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", m.Name, m.Verdict, m.Samples, m.Reason)
				}
				_ = tw.Flush()
			}
			fmt.Fprintln(w, "\nEvents:")
			var evs []local.Event
			err = t.Events(cmd.Context(), ns, false, func(e local.Event) error {
				if e.Kind == "Canary" && e.Namespace == ns && e.Name == cn.Name {
					evs = append(evs, e)
				}
				return nil
			})
			if len(evs) > 15 {
				evs = evs[len(evs)-15:]
			}
			for _, e := range evs {
				fmt.Fprintf(w, "  %s  %-7s  %-14s  %s\n", e.Time.Format("15:04:05"), e.Type, e.Reason, e.Message)
			}
			return err
		},
	}
	tf.add(cmd)
	return cmd
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

func newEventsCommand() *cobra.Command {
	var (
		tf    targetFlags
		watch bool
	)
	cmd := &cobra.Command{
		Use:   "events [-w]",
		Short: "Show the events of the local instance or a cluster's Canaries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			w := cmd.OutOrStdout()
			t, err := tf.target()
			if err != nil {
				return err
			}
			ns, err := tf.ns(t)
			if err != nil {
				return err
			}
			return t.Events(ctx, ns, watch, func(e local.Event) error {
				_, err := fmt.Fprintln(w, e)
				return err
			})
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep printing new events")
	return cmd
}

func newSetCommand() *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Change a Deployment's (or DaemonSet's) image or environment, as kubectl set"}
	var (
		tfi targetFlags
		lfe localFlags
	)
	image := &cobra.Command{
		Use:   "image deployment/NAME|daemonset/NAME CONTAINER=IMAGE",
		Short: "Set a container's image (a new revision: a Canary releases it)",
		Long: `set image sets the image of a container of a Deployment or, on a cluster,
a DaemonSet, as kubectl set image does: a new revision, which the Canary
targeting it releases. The local runtime runs Deployments only.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := workloadArg(args[0])
			if err != nil {
				return err
			}
			container, img, ok := strings.Cut(args[1], "=")
			if !ok {
				return fmt.Errorf("want CONTAINER=IMAGE, got %q", args[1])
			}
			t, err := tfi.target()
			if err != nil {
				return err
			}
			var ns string
			switch _, isLocal := t.(localTarget); {
			case kind == "deployment":
				ns, err = deploymentNamespace(cmd.Context(), t, &tfi, name)
			case isLocal:
				err = fmt.Errorf("daemonset/%s: the local runtime runs Deployments only; a DaemonSet is released on a cluster (--kubeconfig)", name)
			default:
				if ns, err = tfi.ns(t); err == nil && ns == "" {
					err = fmt.Errorf("daemonset/%s: name its namespace with -n", name)
				}
			}
			if err != nil {
				return err
			}
			req := local.SetImageRequest{Namespace: ns, Name: name, Container: container, Image: img}
			if kind == "daemonset" {
				req.Kind = "DaemonSet"
			}
			if err := t.SetImage(cmd.Context(), req); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s/%s image updated\n", kind, name)
			return err
		},
	}
	tfi.add(image)
	env := &cobra.Command{
		Use:   "env deployment/NAME KEY=VALUE...",
		Short: "Set environment variables (KEY- or KEY= removes one)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args[0])
			if err != nil {
				return err
			}
			vars := map[string]string{}
			for _, a := range args[1:] {
				if k, ok := strings.CutSuffix(a, "-"); ok && !strings.Contains(a, "=") {
					vars[k] = ""
					continue
				}
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("want KEY=VALUE, got %q", a)
				}
				vars[k] = v
			}
			ns, err := deploymentNamespace(cmd.Context(), localTarget{lfe.client()}, &targetFlags{localFlags: lfe}, name)
			if err != nil {
				return err
			}
			if err := lfe.client().SetEnv(cmd.Context(), local.SetEnvRequest{Namespace: ns, Name: name, Env: vars}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deployment/%s env updated\n", name)
			return err
		},
	}
	lfe.add(env)
	set.AddCommand(image, env)
	return set
}

// workloadArg reads deployment/NAME or daemonset/NAME (or kubectl's other
// spellings of the kinds) into the kind, "deployment" or "daemonset", and
// the name.
func workloadArg(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, "/")
	kind = local.NormalizeKind(kind)
	if !ok || (kind != "deployment" && kind != "daemonset") || name == "" {
		return "", "", fmt.Errorf("want deployment/NAME or daemonset/NAME, got %q", s)
	}
	return kind, name, nil
}

func deploymentArg(s string) (string, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || local.NormalizeKind(kind) != "deployment" || name == "" {
		return "", fmt.Errorf("want deployment/NAME, got %q", s)
	}
	return name, nil
}

// deploymentNamespace is the namespace of a named Deployment: -n, the
// target's default, or (locally, and with -A) the only namespace holding one
// of that name.
func deploymentNamespace(ctx context.Context, t target, tf *targetFlags, name string) (string, error) {
	ns, err := tf.ns(t)
	if err != nil || ns != "" {
		return ns, err
	}
	deps, err := t.Deployments(ctx, "")
	if err != nil {
		return "", err
	}
	var nss []string
	for _, d := range deps {
		if d.Deployment.Name == name {
			nss = append(nss, d.Deployment.Namespace)
		}
	}
	ns, err = resolveNamespace("", nss)
	if err != nil {
		return "", fmt.Errorf("deployment %s: %w", name, err)
	}
	return ns, nil
}

// findCanaryIn finds a named Canary: in -n's (or the target's default)
// namespace, or the only namespace holding one of that name. A serin.dev
// Canary comes before a flagger.app one of the same name.
func findCanaryIn(ctx context.Context, t target, tf *targetFlags, name string) (v1beta1.Canary, error) {
	ns, err := tf.ns(t)
	if err != nil {
		return v1beta1.Canary{}, err
	}
	cs, err := t.Canaries(ctx, ns)
	if err != nil {
		return v1beta1.Canary{}, err
	}
	var nss []string
	for _, cn := range cs {
		if cn.Name == name && !slices.Contains(nss, cn.Namespace) {
			nss = append(nss, cn.Namespace)
		}
	}
	if ns == "" {
		if ns, err = resolveNamespace("", nss); err != nil {
			return v1beta1.Canary{}, fmt.Errorf("canary %s: %w", name, err)
		}
	}
	if i := slices.IndexFunc(cs, func(cn v1beta1.Canary) bool { return cn.Namespace == ns && cn.Name == name }); i >= 0 {
		return cs[i], nil
	}
	return v1beta1.Canary{}, fmt.Errorf("canary %s/%s: %w", ns, name, local.ErrNotFound)
}

func newCanaryCommand(c rollout.Command) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use: string(c) + " canary/NAME",
		Short: map[rollout.Command]string{
			rollout.Promote: "Promote a Canary now, skipping the rest of its analysis",
			rollout.Abort:   "Roll a Canary's release back now",
			rollout.Pause:   "Hold a Canary's release at its current weight",
			rollout.Resume:  "Continue a paused release",
			rollout.Retry:   "Run the analysis of a Failed release's revision again",
		}[c],
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, ok := strings.Cut(args[0], "/")
			if !ok {
				kind, name = "canary", args[0]
			}
			if local.NormalizeKind(kind) != "canary" {
				return fmt.Errorf("want canary/NAME, got %q", args[0])
			}
			t, err := tf.target()
			if err != nil {
				return err
			}
			cn, err := findCanaryIn(cmd.Context(), t, &tf, name)
			if err != nil {
				return err
			}
			if err := t.Command(cmd.Context(), cn.Namespace, name, c); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "canary/%s: %s requested\n", name, c)
			return err
		},
	}
	tf.add(cmd)
	return cmd
}

func newLogsCommand() *cobra.Command {
	var (
		tf     targetFlags
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs deploy/NAME [-f]",
		Short: "Print the output of a Deployment's processes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(args[0])
			if err != nil {
				return err
			}
			t, err := tf.target()
			if err != nil {
				return err
			}
			ns, err := deploymentNamespace(cmd.Context(), t, &tf, name)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			return t.Logs(ctx, ns, name, follow, cmd.OutOrStdout())
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	return cmd
}
