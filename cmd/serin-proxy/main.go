// Command serin-proxy is serin's data plane alone: `serin proxy` in a
// binary that does not link the control plane; see `serin-proxy --help`.
package main

import (
	"fmt"
	"os"

	"github.com/serinhq/serin/internal/cli/proxycmd"
)

func main() {
	cmd := proxycmd.New()
	cmd.Use = "serin-proxy --config FILE"
	cmd.Example = "  serin-proxy --config examples/proxy/split-90-10.yaml"
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
