//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts a child in its own process group, so that it and its
// children are stopped together.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
