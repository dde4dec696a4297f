package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/svcnames"
	"github.com/serinhq/serin/internal/telemetry"
	trafficproxy "github.com/serinhq/serin/internal/traffic/proxy"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// Options configure a Runtime.
type Options struct {
	// StateDir holds the state, the logs and the API socket.
	StateDir string
	// Self is the serin binary, run for containers whose command is
	// "serin"; empty means os.Executable.
	Self string
	// Dir is the working directory of processes; empty means the current
	// directory.
	Dir string
	// Reset starts from an empty state instead of resuming the last one.
	Reset bool
	// Logger; nil discards.
	Logger *slog.Logger
	// Telemetry is the store the proxy records into; nil means a new one.
	Telemetry *telemetry.Store
	// NewDataPlane builds the proxy for the telemetry store; nil means
	// serin's in-process proxy (NewProxyPlane).
	NewDataPlane func(*telemetry.Store) (DataPlane, error)
	// NewEngine builds the engine around the runtime's adapters.
	NewEngine func(Adapters) Engine
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Adapters are what the runtime offers the engine: its Workload and
// Router, the telemetry its proxy records, its MetricTemplates and its
// AlertProviders.
type Adapters struct {
	Workload  engine.Workload
	Router    engine.Router
	Telemetry *telemetry.Store
	Templates func(ctx context.Context, namespace, name string) (*v1beta1.MetricTemplate, error)
	Providers func(ctx context.Context, namespace, name string) (*v1beta1.AlertProvider, error)
	// Logger receives what the adapters cannot report on a Canary, such
	// as an alert that could not be sent.
	Logger *slog.Logger
	// Dialer resolves Kubernetes Service names to the runtime's
	// listeners: the webhooks', metric queries' and alerts' clients dial
	// through it.
	Dialer *svcnames.Dialer
}

// Engine reconciles one Canary once; *engine.Engine is one.
type Engine interface {
	Tick(ctx context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error)
}

// Runtime runs Deployments as processes, Services as proxy listeners and
// Canaries through the engine, and persists it all in a state directory.
type Runtime struct {
	opts   Options
	log    *slog.Logger
	store  *Store
	sup    *Supervisor
	tel    *telemetry.Store
	plane  DataPlane
	engine Engine
	events *eventLog
	now    func() time.Time

	ctx      context.Context // of Run, for the pods
	stopping sync.WaitGroup  // pods being stopped
	kick     chan struct{}   // pods or routes to sync
	wake     chan struct{}   // canaries to reconcile

	mu       sync.Mutex
	obj      *objects
	pods     map[string]*Pod
	commands map[string]rollout.Command
	due      map[string]time.Time
	rand     *rand.Rand
	planeErr error
	// readySeen is the readiness each Canary last saw, so that a change
	// reconciles it at once instead of at its next interval.
	readySeen map[string]string
	// ports are the free ports chosen for listeners that do not take
	// their Service's port, by namespace/service:port.
	ports map[string]int
	// namesWritten is the names table last written to NamesPath.
	namesWritten []byte

	// names is the names table in effect, read by the Dialer without mu.
	names atomic.Pointer[svcnames.Table]
}

// Open locks the state directory, loads the last state and stops the
// processes a killed runtime left behind.
func Open(opts Options) (*Runtime, error) {
	if opts.NewEngine == nil {
		return nil, errors.New("local runtime: NewEngine must be set")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.NewDataPlane == nil {
		log := opts.Logger
		opts.NewDataPlane = func(s *telemetry.Store) (DataPlane, error) { return NewProxyPlane(s, log) }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the serin binary: %w", err)
		}
		opts.Self = self
	}
	if opts.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		opts.Dir = wd
	}
	store, err := OpenStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	st, err := store.Load()
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	if n := KillStale(st.Processes); n > 0 {
		opts.Logger.Info("stopped processes left by an earlier run", "count", n)
	}
	if opts.Reset {
		if err := store.Reset(); err != nil {
			_ = store.Close()
			return nil, err
		}
		st = &State{}
	}
	if opts.Telemetry == nil {
		opts.Telemetry = telemetry.NewStore()
	}
	r := &Runtime{
		opts: opts, log: opts.Logger, store: store, tel: opts.Telemetry,
		events: newEventLog(st.Events), now: opts.Now,
		kick: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		obj: newObjects(st), pods: map[string]*Pod{},
		commands: map[string]rollout.Command{}, due: map[string]time.Time{},
		readySeen: map[string]string{}, ports: map[string]int{},
		rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))),
	}
	r.sup = NewSupervisor(SupervisorOptions{
		LogDir: LogDir(opts.StateDir), Self: opts.Self, Dir: opts.Dir,
		Changed: r.kickSync, Event: r.podEvent,
	})
	r.engine = opts.NewEngine(Adapters{
		Workload: wlocal.New(cluster{r}), Router: trafficproxy.New(table{r}),
		Telemetry: r.tel, Templates: r.metricTemplate, Providers: r.alertProvider,
		Logger: r.log, Dialer: r.Dialer(),
	})
	return r, nil
}

// Telemetry is the store of the proxy's golden metrics.
func (r *Runtime) Telemetry() *telemetry.Store { return r.tel }

// StateDir is the runtime's state directory.
func (r *Runtime) StateDir() string { return r.opts.StateDir }

// Run starts the listeners, the processes and the reconciling, and runs
// until ctx ends; it then stops every process it started. A listener that
// cannot start (a port in use) ends Run with an error at once.
func (r *Runtime) Run(ctx context.Context, api func(context.Context) error) (err error) {
	defer r.store.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.ctx = ctx
	plane, err := r.opts.NewDataPlane(r.tel)
	if err != nil {
		return fmt.Errorf("start proxy: %w", err)
	}
	r.plane = plane

	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		r.shutdown()
	}()

	r.mu.Lock()
	routesErr := r.applyRoutesLocked()
	r.mu.Unlock()
	if routesErr != nil {
		return routesErr
	}
	wg.Go(func() { r.tel.Run(ctx) })
	wg.Go(func() { r.syncLoop(ctx) })
	wg.Go(func() { r.canaryLoop(ctx) })
	errc := make(chan error, 1)
	if api != nil {
		wg.Go(func() {
			if err := api(ctx); err != nil {
				errc <- err
			}
		})
	}
	r.kickSync()
	r.wakeCanaries()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// drainTimeout bounds how long a stopping runtime waits for its alerts
// and event webhook calls.
const drainTimeout = 10 * time.Second

// shutdown sends what the engine's notifier queued (its receivers may be
// pods of this runtime, such as a loadtester), stops every pod and writes
// the final state.
func (r *Runtime) shutdown() {
	if d, ok := r.engine.(interface{ Drain(context.Context) error }); ok {
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := d.Drain(dctx); err != nil {
			r.log.Warn("stopped with messages unsent", "err", err)
		}
		cancel()
	}
	r.mu.Lock()
	pods := make([]*Pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(p.Stop)
	}
	wg.Wait()
	r.stopping.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.plane.Shutdown(sctx); err != nil {
		r.log.Warn("proxy shutdown", "err", err)
	}
	r.mu.Lock()
	r.pods = map[string]*Pod{}
	r.saveLocked()
	r.mu.Unlock()
}

func (r *Runtime) kickSync() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Runtime) wakeCanaries() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// syncLoop keeps pods and routes up to date.
func (r *Runtime) syncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		r.mu.Lock()
		r.finishHandoversLocked()
		r.syncPods()
		err := r.applyRoutesLocked()
		if err != nil && (r.planeErr == nil || err.Error() != r.planeErr.Error()) {
			r.recordLocked(Event{Type: "Warning", Reason: "ProxyError", Kind: "Service", Message: err.Error()})
		}
		r.planeErr = err
		r.wakeOnReadinessLocked()
		r.saveLocked()
		r.mu.Unlock()
	}
}

// saveLocked persists the state; a failure is logged, not fatal, since
// the runtime keeps working from memory.
func (r *Runtime) saveLocked() {
	st := &State{Events: r.events.all()}
	r.obj.fill(st)
	for _, p := range r.pods {
		s := p.Status()
		for _, pid := range s.PIDs {
			st.Processes = append(st.Processes, ProcessRecord{Pod: s.Name, PID: pid, Start: processStart(pid)})
		}
	}
	if err := r.store.Save(st); err != nil {
		r.log.Error("save state", "err", err)
	}
}

// record adds an event.
func (r *Runtime) record(e Event) Event {
	ev := r.events.add(r.now(), e)
	r.log.Info("event", "type", e.Type, "reason", e.Reason, "object", e.Kind+"/"+e.Namespace+"/"+e.Name, "message", e.Message)
	return ev
}

// recordLocked adds an event; r.mu is held.
func (r *Runtime) recordLocked(e Event) { r.record(e) }

// podEvent records a pod's event, and its warnings on the Canary of its
// Deployment too, since that is where a person watching a release looks.
func (r *Runtime) podEvent(pe PodEvent) {
	typ := "Normal"
	if pe.Warning {
		typ = "Warning"
	}
	r.record(Event{Type: typ, Reason: pe.Reason, Kind: "Pod", Namespace: pe.Namespace, Name: pe.Pod, Message: pe.Message})
	if !pe.Warning {
		return
	}
	r.mu.Lock()
	c := r.obj.canaryFor(pe.Namespace, pe.Deployment)
	r.mu.Unlock()
	if c != nil {
		r.record(Event{Type: typ, Reason: pe.Reason, Kind: "Canary", Namespace: c.Namespace, Name: c.Name,
			Message: fmt.Sprintf("deployment %s: %s", pe.Deployment, pe.Message)})
	}
}

// cluster implements the Workload's view of the runtime.
type cluster struct{ r *Runtime }

func (c cluster) Deployment(ns, name string) (*appsv1.Deployment, bool) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	d, ok := c.r.obj.deployments[key(ns, name)]
	if !ok {
		return nil, false
	}
	return d.DeepCopy(), true
}

func (c cluster) PutDeployment(d *appsv1.Deployment) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	d = d.DeepCopy()
	k := key(d.Namespace, d.Name)
	if old, ok := c.r.obj.deployments[k]; ok {
		d.Generation = old.Generation + 1
	} else {
		d.Generation = 1
	}
	c.r.obj.deployments[k] = d
	c.r.saveLocked()
	c.r.kickSync()
	return nil
}

func (c cluster) Readiness(ns, name string) rollout.Readiness {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.r.readinessLocked(ns, name)
}

func (c cluster) DeleteDeployment(ns, name string) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if _, ok := c.r.obj.deployments[key(ns, name)]; !ok {
		return nil
	}
	delete(c.r.obj.deployments, key(ns, name))
	c.r.saveLocked()
	c.r.kickSync()
	return nil
}

func (c cluster) SetSplit(ns, canary string, routes rollout.Routes) error {
	return table(c).SetSplit(ns, canary, routes)
}

// table keeps the split of each Canary and applies it to the proxy.
type table struct{ r *Runtime }

func (t table) SetSplit(ns, name string, routes rollout.Routes) error {
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obj.routes[key(ns, name)] = routes
	r.saveLocked()
	return r.applyRoutesLocked()
}

var (
	_ wlocal.Cluster     = cluster{}
	_ trafficproxy.Table = table{}
)

// metricTemplate returns a MetricTemplate.
func (r *Runtime) metricTemplate(_ context.Context, ns, name string) (*v1beta1.MetricTemplate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.obj.templates[key(ns, name)]
	if !ok {
		return nil, fmt.Errorf("metrictemplate %s/%s: %w", ns, name, ErrNotFound)
	}
	return t.DeepCopy(), nil
}

func (r *Runtime) alertProvider(_ context.Context, ns, name string) (*v1beta1.AlertProvider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.obj.providers[key(ns, name)]
	if !ok {
		return nil, fmt.Errorf("alertprovider %s/%s: %w", ns, name, ErrNotFound)
	}
	return p.DeepCopy(), nil
}

// Close releases the state directory of a Runtime that was opened but
// will not Run.
func (r *Runtime) Close() error { return r.store.Close() }

// wakeOnReadinessLocked makes a Canary due now when the readiness of its
// target or primary changed.
func (r *Runtime) wakeOnReadinessLocked() {
	woke := false
	for k, c := range r.obj.canaries {
		t := r.readinessLocked(c.Namespace, c.Spec.TargetRef.Name)
		p := r.readinessLocked(c.Namespace, wlocal.PrimaryName(c))
		sig := fmt.Sprintf("%d/%d/%d %d/%d/%d", t.Desired, t.Updated, t.Ready, p.Desired, p.Updated, p.Ready)
		if r.readySeen[k] != sig {
			r.readySeen[k] = sig
			delete(r.due, k)
			woke = true
		}
	}
	if woke {
		r.wakeCanaries()
	}
}
