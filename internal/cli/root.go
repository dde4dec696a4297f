package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/version"
)

// KubectlPluginName is the name under which kubectl runs serin as a
// plugin: `kubectl serin ...` runs kubectl-serin on $PATH.
const KubectlPluginName = "kubectl-serin"

// NewRootCommandFor returns the root command for a binary started as
// argv0: named kubectl-serin (a kubectl plugin) it calls itself
// "kubectl serin" in its help and behaves as serin.
func NewRootCommandFor(argv0 string) *cobra.Command {
	root := NewRootCommand()
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") == KubectlPluginName {
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl serin"
	}
	return root
}

// NewRootCommand returns the serin command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "serin",
		Short: "Automated canary releases driven by golden metrics",
		Long: `serin moves a little traffic to a new version, measures its success rate and
latency against the old one, moves more while it is healthy, and rolls back
the moment it is not.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(newValidateCommand())
	root.AddCommand(newSimulateCommand())
	root.AddCommand(newRunCommand(), newPodinfoCommand(), newLoadCommand(), newFrontendCommand(), newDemoCommand())
	root.AddCommand(newLocalCommands()...)
	root.AddCommand(newProxyCommand(), newStatCommand())
	root.AddCommand(newControllerCommand())
	root.AddCommand(newDashboardCommand())
	root.AddCommand(newLoadtesterCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
			return err
		},
	}
}
