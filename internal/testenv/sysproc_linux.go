package testenv

import "syscall"

// sysProcAttr puts a child in its own process group, so that it and its
// children are stopped together, and kills it if the test binary dies
// without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
