package cli

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/api/v1beta1"
	localrt "github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/manifest"
	"github.com/serinhq/serin/internal/proxy"
)

func newValidateCommand() *cobra.Command {
	var (
		files []string
		local bool
	)
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR [-f ...]",
		Short: "Check manifests: Canaries, MetricTemplates, AlertProviders and the workloads they release",
		Long: `validate reads YAML or JSON manifests (files, directories searched for
*.yaml, *.yml and *.json, or - for standard input) and reports every problem
with its file, line and field path. Flagger's flagger.app/v1beta1 kinds are
accepted as they are. Configurations of serin proxy (routes and no
apiVersion) are checked as serin proxy --config reads them. Warnings
(prefixed "warning:") name what is accepted, as Flagger accepts it, but is
likely not what was meant, such as fields that have no effect; they do not
fail the command. It prints "OK: N objects in M files" when there is no
error, and exits 1 otherwise.`,
		Example: `  serin validate -f examples/podinfo
  kubectl get canary -A -o yaml | serin validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("no manifests given: use -f FILE|DIR")
			}
			opts := v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalKubernetes}
			if local {
				opts = v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal, NoCluster: true}
			}
			loader := manifest.Loader{Stdin: cmd.InOrStdin()}
			if !local { // serin run takes no proxy configuration
				loader.ProxyConfig = checkProxyConfig
			}
			set, loadErr := loader.Load(files...)
			var validateErr error
			if local {
				validateErr = localrt.Validate(set) // what serin run refuses, too
			} else {
				validateErr = set.Validate(opts)
			}

			var problems manifest.Problems
			for _, err := range []error{loadErr, validateErr} {
				var ps manifest.Problems
				if errors.As(err, &ps) {
					problems = append(problems, ps...)
				}
			}
			errorCount := len(problems)
			problems = append(problems, set.Warnings(opts)...)
			// Report in file order, each file's problems by line.
			order := make(map[string]int, len(set.Files))
			for i, f := range set.Files {
				order[f] = i + 1
			}
			slices.SortStableFunc(problems, func(a, b manifest.Problem) int {
				return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line))
			})
			out := cmd.OutOrStdout()
			for _, p := range problems {
				fmt.Fprintln(out, p.Error())
			}
			if errorCount > 0 {
				return fmt.Errorf("%s in %s", plural(errorCount, "problem"), plural(len(set.Files), "file"))
			}
			warnings := ""
			if n := len(problems); n > 0 {
				warnings = ", " + plural(n, "warning")
			}
			checked := plural(len(set.Objects), "object")
			switch n := len(set.ProxyConfigs); {
			case n > 0 && len(set.Objects) == 0:
				checked = plural(n, "proxy configuration")
			case n > 0:
				checked += ", " + plural(n, "proxy configuration")
			}
			_, err := fmt.Fprintf(out, "OK: %s in %s%s\n", checked, plural(len(set.Files), "file"), warnings)
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory, or - for standard input (repeatable)")
	cmd.Flags().BoolVar(&local, "local", false, "validate for the local runtime: analysis interval down to 1s instead of 10s, no providers that read a cluster, and everything serin run refuses (kinds it does not run, port clashes, duplicates)")
	return cmd
}

// checkProxyConfig returns the problems serin proxy --config would refuse
// a configuration for.
func checkProxyConfig(doc []byte) []string {
	_, err := proxy.ParseFile(doc)
	var ce *proxy.ConfigError
	switch {
	case errors.As(err, &ce):
		return ce.Problems
	case err != nil:
		return []string{err.Error()}
	}
	return nil
}

// plural returns "1 file" or "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
