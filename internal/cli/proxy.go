package cli

import (
	"github.com/spf13/cobra"

	"github.com/serinhq/serin/internal/cli/proxycmd"
)

// newProxyCommand is `serin proxy`: the data plane on its own.
func newProxyCommand() *cobra.Command { return proxycmd.New() }
