//go:build unix

package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before it
// gets SIGKILL.
const stopGrace = 10 * time.Second

// process is a child process running in its own process group, with its
// output in a log file.
type process struct {
	name    string
	dir     string
	bin     string
	args    []string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // the exit status, valid once done is closed
}

// startProcess starts bin with args, its output going to dir/name.log
// (appended, so that a restarted process keeps its earlier output).
func startProcess(dir, name, bin string, args ...string) (*process, error) {
	return startProcessEnv(dir, name, nil, bin, args...)
}

// startProcessEnv is startProcess with env added to the environment.
func startProcessEnv(dir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, dir: dir, bin: bin, args: args, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error when the process has already exited.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v", p.name, p.err)
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace,
// and waits for the process to exit. It returns an error only when the
// process had to be killed.
func (p *process) stop() error {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
		// The leader is gone; make sure no child outlives it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	case <-timer.C:
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, pgid, err)
	}
	<-p.done
	return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM and was killed", p.name, pgid, stopGrace)
}

// kill sends SIGKILL to the process group and waits for the process to
// exit: a crash.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// start starts the process again, after it has stopped, with the same
// binary, arguments and directory.
func (p *process) start() (*process, error) {
	return startProcess(p.dir, p.name, p.bin, p.args...)
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString("  ")
		sb.Write(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}
