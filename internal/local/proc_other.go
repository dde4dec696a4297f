//go:build unix && !linux

package local

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}

// processStart is unknown outside Linux; stale processes are then left
// alone rather than risk signalling an unrelated one.
func processStart(int) string { return "" }

// awaitExit returns at once: the process group is signalled after the
// process is reaped instead.
func awaitExit(int) {}
