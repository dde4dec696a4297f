// Command serin runs automated canary releases; see `serin --help`.
// Installed (or linked) as kubectl-serin it is also a kubectl plugin:
// `kubectl serin get canaries -n test`.
package main

import (
	"fmt"
	"os"

	"github.com/serinhq/serin/internal/cli"
)

func main() {
	if err := cli.NewRootCommandFor(os.Args[0]).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
