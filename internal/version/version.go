// Package version holds the build's version, set by the linker
// (-X github.com/serinhq/serin/internal/version.Version=...).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at link time; see the Makefile.
var (
	Version = "dev"
	Commit  = ""
)

// String describes the build in one line.
func String() string {
	commit := Commit
	if commit == "" {
		commit = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 7 {
					commit = s.Value[:7]
				}
			}
		}
	}
	return fmt.Sprintf("serin %s (commit %s, %s %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
