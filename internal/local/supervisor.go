package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodSpec is one pod of a Deployment to run as local processes, one per
// container.
type PodSpec struct {
	Name       string
	Namespace  string
	Deployment string
	// Revision is the hash of the pod template the pod runs.
	Revision   string
	Labels     map[string]string
	Port       int
	Containers []corev1.Container
	// Services are the NAME_SERVICE_HOST/PORT variables of the namespace.
	Services []corev1.EnvVar
	// Names is the file of the runtime's names table (PodEnv.Names).
	Names string
	// GracePeriod between SIGTERM and SIGKILL when the pod stops.
	GracePeriod time.Duration
}

// PodStatus is what the supervisor knows about a pod.
type PodStatus struct {
	Name       string            `json:"name"`
	Namespace  string            `json:"namespace"`
	Deployment string            `json:"deployment"`
	Revision   string            `json:"revision"`
	Labels     map[string]string `json:"labels,omitempty"`
	Port       int               `json:"port"`
	Ready      bool              `json:"ready"`
	// Running is true while every container has a live process.
	Running  bool `json:"running"`
	Restarts int  `json:"restarts"`
	// PIDs of the containers' live processes.
	PIDs    []int     `json:"pids,omitempty"`
	Started time.Time `json:"started"`
	// Reason says why the pod is not ready, when known.
	Reason string `json:"reason,omitempty"`
	// Terminating is true once the pod was asked to stop.
	Terminating bool `json:"terminating,omitempty"`
}

// PodEvent is something that happened to a pod's process.
type PodEvent struct {
	Pod        string
	Namespace  string
	Deployment string
	Warning    bool
	Reason     string
	Message    string
}

// SupervisorOptions configure a Supervisor.
type SupervisorOptions struct {
	// LogDir receives one log file per container.
	LogDir string
	// Self is the path of the running serin binary, run for a command named
	// "serin".
	Self string
	// Dir is the working directory of processes without a workingDir.
	Dir string
	// Changed is called, without locks held, whenever a pod's readiness or
	// processes change.
	Changed func()
	// Event is called for each pod event.
	Event func(PodEvent)
	// Backoff is the first restart delay, doubled up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// Supervisor runs pods as processes: it restarts crashed processes with
// backoff, runs their probes and sends their output to log files.
type Supervisor struct {
	opts SupervisorOptions
}

// NewSupervisor returns a Supervisor.
func NewSupervisor(opts SupervisorOptions) *Supervisor {
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Changed == nil {
		opts.Changed = func() {}
	}
	if opts.Event == nil {
		opts.Event = func(PodEvent) {}
	}
	return &Supervisor{opts: opts}
}

// LogPath is the log file of one container of a pod.
func LogPath(logDir, namespace, pod, container string) string {
	return filepath.Join(logDir, namespace+"_"+pod+"_"+container+".log")
}

// Pod is a running pod. Stop it with Stop.
type Pod struct {
	spec   PodSpec
	sup    *Supervisor
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	containers  []*containerState
	started     time.Time
	terminating bool
}

type containerState struct {
	spec     corev1.Container
	pid      int
	ready    bool
	restarts int
	reason   string
}

// Start starts the pod's processes and returns at once; the pod runs
// until Stop or until ctx ends.
func (s *Supervisor) Start(ctx context.Context, spec PodSpec) *Pod {
	ctx, cancel := context.WithCancel(ctx)
	p := &Pod{spec: spec, sup: s, cancel: cancel, done: make(chan struct{}), started: time.Now()}
	var wg sync.WaitGroup
	for _, c := range spec.Containers {
		cs := &containerState{spec: c, reason: "ContainerCreating"}
		p.containers = append(p.containers, cs)
		wg.Go(func() { p.run(ctx, cs) })
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

// Stop stops the pod's processes (SIGTERM, then SIGKILL after the grace
// period) and waits for them to end.
func (p *Pod) Stop() {
	p.mu.Lock()
	p.terminating = true
	for _, c := range p.containers {
		c.ready = false
	}
	p.mu.Unlock()
	p.sup.opts.Changed()
	p.cancel()
	<-p.done
}

// Done is closed when every process of the pod has ended after Stop.
func (p *Pod) Done() <-chan struct{} { return p.done }

// Spec returns the pod's spec.
func (p *Pod) Spec() PodSpec { return p.spec }

// Status returns the pod's status.
func (p *Pod) Status() PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PodStatus{
		Name: p.spec.Name, Namespace: p.spec.Namespace, Deployment: p.spec.Deployment,
		Revision: p.spec.Revision, Labels: p.spec.Labels, Port: p.spec.Port,
		Started: p.started, Terminating: p.terminating,
		Ready: !p.terminating && len(p.containers) > 0, Running: len(p.containers) > 0,
	}
	for _, c := range p.containers {
		st.Restarts += c.restarts
		if c.pid != 0 {
			st.PIDs = append(st.PIDs, c.pid)
		} else {
			st.Running = false
		}
		if !c.ready {
			st.Ready = false
			if st.Reason == "" {
				st.Reason = c.reason
			}
		}
	}
	return st
}

func (p *Pod) update(c *containerState, f func()) {
	p.mu.Lock()
	f()
	p.mu.Unlock()
	p.sup.opts.Changed()
}

func (p *Pod) event(warning bool, reason, format string, args ...any) {
	p.sup.opts.Event(PodEvent{
		Pod: p.spec.Name, Namespace: p.spec.Namespace, Deployment: p.spec.Deployment,
		Warning: warning, Reason: reason, Message: fmt.Sprintf(format, args...),
	})
}

// run keeps one container's process running until ctx ends.
func (p *Pod) run(ctx context.Context, c *containerState) {
	opts := p.sup.opts
	env, argv, err := p.commandOf(c.spec)
	if err != nil {
		p.update(c, func() { c.reason = err.Error() })
		p.event(true, "Failed", "Error: %v", err)
		<-ctx.Done()
		return
	}
	logFile, err := openLog(LogPath(opts.LogDir, p.spec.Namespace, p.spec.Name, c.spec.Name))
	if err != nil {
		p.update(c, func() { c.reason = err.Error() })
		p.event(true, "Failed", "Error: open log: %v", err)
		<-ctx.Done()
		return
	}
	defer logFile.Close()

	backoff := opts.Backoff
	for ctx.Err() == nil {
		cmd := exec.Command(argv[0], argv[1:]...)
		if argv[0] == "serin" && opts.Self != "" {
			cmd = exec.Command(opts.Self, argv[1:]...)
		}
		cmd.Env = envStrings(env)
		cmd.Dir = c.spec.WorkingDir
		if cmd.Dir == "" {
			cmd.Dir = opts.Dir
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		setProcAttr(cmd)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			p.update(c, func() { c.reason = fmt.Sprintf("start %s: %v", argv[0], err) })
			p.event(true, "Failed", "Error: %v", err)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, opts.MaxBackoff)
			continue
		}
		p.update(c, func() { c.pid, c.reason = cmd.Process.Pid, "ContainersNotReady" })
		p.event(false, "Started", "Started container %s (pid %d, port %d)", c.spec.Name, cmd.Process.Pid, p.spec.Port)

		exited := make(chan error, 1)
		go func() {
			pid := cmd.Process.Pid
			awaitExit(pid)
			signalGroup(pid, true) // what it left behind (a child holding its port) goes with it
			exited <- cmd.Wait()
		}()
		pctx, stopProbes := context.WithCancel(ctx)
		var probes sync.WaitGroup
		probes.Go(func() { p.readiness(pctx, c, env) })
		if c.spec.LivenessProbe != nil {
			probes.Go(func() { p.liveness(pctx, c, env, cmd.Process.Pid) })
		}

		select {
		case err := <-exited:
			stopProbes()
			probes.Wait()
			if ctx.Err() != nil {
				p.update(c, func() { c.pid, c.ready = 0, false })
				return
			}
			if time.Since(start) > 10*backoff {
				backoff = opts.Backoff
			}
			p.update(c, func() {
				c.pid, c.ready, c.restarts = 0, false, c.restarts+1
				c.reason = fmt.Sprintf("CrashLoopBackOff: %s exited: %v", argv[0], err)
			})
			p.event(true, "BackOff", "Container %s exited (%v), restarting in %s", c.spec.Name, err, backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, opts.MaxBackoff)
		case <-ctx.Done():
			stopProbes()
			probes.Wait()
			terminate(cmd.Process.Pid, exited, p.spec.GracePeriod)
			p.update(c, func() { c.pid, c.ready = 0, false })
			return
		}
	}
}

// openLog opens a container's log for appending, readable by its user
// alone (a log may hold what the process prints of its secrets).
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // a log an older serin made
		_ = f.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return f, nil
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace.
func terminate(pid int, exited <-chan error, grace time.Duration) {
	if grace <= 0 {
		grace = 5 * time.Second
	}
	signalGroup(pid, false)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		signalGroup(pid, true) // children the process left behind
	case <-t.C:
		signalGroup(pid, true)
		<-exited
	}
}

func (p *Pod) commandOf(c corev1.Container) ([]corev1.EnvVar, []string, error) {
	env, err := ContainerEnv(c, PodEnv{
		PodName: p.spec.Name, Namespace: p.spec.Namespace, Port: p.spec.Port,
		Image: c.Image, Services: p.spec.Services, Names: p.spec.Names,
	})
	if err != nil {
		return nil, nil, err
	}
	argv, err := CommandLine(c, env)
	if err != nil {
		return nil, nil, err
	}
	return env, argv, nil
}

func envStrings(env []corev1.EnvVar) []string {
	out := make([]string, 0, len(env)+2)
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

// readiness runs the readiness probe until ctx ends. Until the container is
// first ready it probes every 100ms, so that a local pod is ready as soon
// as it serves, instead of after a whole periodSeconds.
func (p *Pod) readiness(ctx context.Context, c *containerState, env []corev1.EnvVar) {
	probe := c.spec.ReadinessProbe
	if probe == nil {
		p.update(c, func() { c.ready, c.reason = true, "" })
		return
	}
	pr := &Prober{Port: p.spec.Port, Env: envStrings(env), Dir: c.spec.WorkingDir}
	s := scheduleOf(probe)
	if !sleep(ctx, s.initialDelay) {
		return
	}
	var ok, failed int
	everReady := false
	for {
		err := pr.Probe(ctx, probe)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			ok, failed = ok+1, 0
			if ok >= s.success {
				everReady = true
				p.setReady(c, true, "")
			}
		} else {
			ok, failed = 0, failed+1
			switch {
			case failed >= s.failure:
				p.setReady(c, false, "readiness probe failed: "+err.Error())
			case !everReady:
				p.setReady(c, false, "") // still starting: keep ContainersNotReady
			}
		}
		next := s.period
		if !everReady {
			next = min(next, 100*time.Millisecond)
		}
		if !sleep(ctx, next) {
			return
		}
	}
}

func (p *Pod) setReady(c *containerState, ready bool, reason string) {
	p.mu.Lock()
	changed := c.ready != ready
	c.ready = ready
	if reason != "" || ready {
		c.reason = reason
	}
	p.mu.Unlock()
	if changed {
		p.sup.opts.Changed()
		if !ready {
			p.event(true, "Unhealthy", "Readiness probe failed: %s", reason)
		}
	}
}

// liveness kills the process after failureThreshold failed probes; run
// restarts it.
func (p *Pod) liveness(ctx context.Context, c *containerState, env []corev1.EnvVar, pid int) {
	probe := c.spec.LivenessProbe
	pr := &Prober{Port: p.spec.Port, Env: envStrings(env), Dir: c.spec.WorkingDir}
	s := scheduleOf(probe)
	if !sleep(ctx, s.initialDelay) {
		return
	}
	failed := 0
	for sleep(ctx, s.period) {
		err := pr.Probe(ctx, probe)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failed = 0
			continue
		}
		if failed++; failed >= s.failure {
			p.event(true, "Unhealthy", "Liveness probe failed: %v; killing container %s", err, c.spec.Name)
			signalGroup(pid, true)
			return
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ErrNotRunning is returned for a pod or process that is not running.
var ErrNotRunning = errors.New("not running")
