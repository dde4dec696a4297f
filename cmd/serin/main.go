// Command serin runs automated canary releases; see `serin --help`.
package main

import (
	"fmt"
	"os"

	"github.com/serinhq/serin/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
