package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/version"
)

// DefaultMinInterval is the shortest analysis interval the controller
// accepts, as Flagger's.
const DefaultMinInterval = 10 * time.Second

// LeaderElectionID names the Lease the controllers' replicas elect a leader
// with.
const LeaderElectionID = "serin-controller"

// Options configure the controller. The zero value of each field is a
// usable default, except where said.
type Options struct {
	// APIGroups are the API groups whose Canaries, MetricTemplates and
	// AlertProviders are reconciled: serin.dev, flagger.app or both (see
	// APIGroups). Each must have its Canary CRD installed. Empty means
	// every group whose Canary CRD is installed when the manager is
	// created.
	APIGroups []string
	// Namespace restricts the controller to one namespace; empty watches
	// all.
	Namespace string
	// MeshProvider is the router of Canaries without spec.provider;
	// defaults to "linkerd".
	MeshProvider string
	// MetricsServer is the Prometheus address of Canaries without
	// spec.metricsServer.
	MetricsServer string
	// LeaderElection makes replicas elect one leader through a Lease.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; defaults to the namespace
	// the controller runs in.
	LeaderElectionNamespace string
	// MetricsAddr is where the controller serves /metrics; "0" or empty
	// disables it.
	MetricsAddr string
	// HealthAddr is where it serves /healthz and /readyz; "0" or empty
	// disables them. Equal to MetricsAddr, one server serves all three,
	// as Flagger's -port.
	HealthAddr string
	// DashboardAddr is where the controller serves serin's dashboard to
	// Kubernetes users with a bearer token; "0" or empty disables it.
	DashboardAddr string
	// ControlLoopInterval is how often flagger_canary_total is recomputed
	// from the Canaries in the cache, as Flagger's control loop does;
	// defaults to 10s. Canaries themselves are ticked as soon as they
	// change and then at their analysis interval.
	ControlLoopInterval time.Duration
	// Version labels flagger_info; defaults to version.Version.
	Version string
	// NoCrossNamespaceRefs refuses Canaries whose MetricTemplates or
	// AlertProviders are in another namespace (Flagger's
	// -no-cross-namespace-refs).
	NoCrossNamespaceRefs bool
	// Alerts are the controller's own alert destinations: Flagger's
	// -slack-*, -msteams-*, -event-webhook and -cluster-name.
	Alerts GlobalAlerts
	// SelectorLabels, IncludeLabelPrefixes and DisableConfigTracking
	// shape the primary workloads, as Flagger's -selector-labels,
	// -include-label-prefix and -enable-config-tracking (see
	// workload.Options).
	SelectorLabels        []string
	IncludeLabelPrefixes  []string
	DisableConfigTracking bool
	// KubeAPIQPS and KubeAPIBurst bound the controller's requests to the
	// API server; zero keeps the rest.Config's (client-go's default is 5
	// and 10, too few for more than a few dozen Canaries).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// Workers is how many Canaries are reconciled at once; defaults to 32.
	Workers int
	// MinInterval is the shortest analysis interval accepted; defaults to
	// DefaultMinInterval. Lower values are for tests only: Kubernetes
	// Deployments and Prometheus scrapes cannot follow faster ticks.
	MinInterval time.Duration
	// Registry receives serin's metrics and is served on MetricsAddr with
	// controller-runtime's. Required.
	Registry *prometheus.Registry
	// Logger; defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Transport returns the transport of webhooks, alerts and metric
	// providers; nil for a clone of http.DefaultTransport, which resolves
	// names with the system's DNS (cluster DNS in a pod). A controller run
	// outside the cluster, as the end-to-end tests run it, resolves
	// Service names with a svcnames.Dialer's Transport.
	Transport func() *http.Transport

	// Source replaces the metric source (Prometheus and MetricTemplates).
	// For tests and benchmarks.
	Source engine.Source
	// SkipNameValidation lets one process start several managers one
	// after another, as tests that restart the controller do.
	SkipNameValidation bool
}

func (o *Options) defaults() error {
	if o.Registry == nil {
		return errors.New("options: Registry is required")
	}
	if o.MeshProvider == "" {
		o.MeshProvider = "linkerd"
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.ControlLoopInterval <= 0 {
		o.ControlLoopInterval = 10 * time.Second
	}
	if o.Version == "" {
		o.Version = version.Version
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// NewScheme returns a scheme with the kinds the controller reads and
// writes.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range schemeBuilders() {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// NewManager returns a manager running the Canary controller on the
// cluster cfg points at. Start it with Start(ctx); it stops when ctx ends,
// and then waits up to 10s for the alerts and event webhook calls it has
// queued.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if o.KubeAPIQPS > 0 {
		cfg.QPS = o.KubeAPIQPS
	}
	if o.KubeAPIBurst > 0 {
		cfg.Burst = o.KubeAPIBurst
	}
	log := logr.FromSlogHandler(o.Logger.Handler())
	mo := ctrl.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	}
	// The controller never reads managed fields: dropping them from the
	// informer caches saves memory and the copying of every read. Writes of
	// objects without them leave the server's managed fields as they are.
	mo.Cache = cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if o.Namespace != "" {
		mo.Cache.DefaultNamespaces = map[string]cache.Config{o.Namespace: {}}
		if mo.LeaderElectionNamespace == "" && o.LeaderElection {
			mo.LeaderElectionNamespace = o.Namespace
		}
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	m, err := NewMetrics(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	m.flagger.setInfo(o.Version, o.MeshProvider)
	groups, err := resolveGroups(mgr.GetRESTMapper(), o.APIGroups, o.Logger)
	if err != nil {
		return nil, err
	}
	wl := newWorkload(mgr.GetClient(), o)
	var notifiers []engine.Drainer
	for _, g := range groups {
		engines, notifier, err := newEngines(mgr.GetClient(), cfg, o, g)
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, notifier)
		r := &Reconciler{
			Group:       g,
			Client:      mgr.GetClient(),
			APIReader:   mgr.GetAPIReader(),
			Recorder:    mgr.GetEventRecorderFor("serin"),
			Metrics:     m,
			Engines:     engines,
			Now:         o.Now,
			MinInterval: o.MinInterval,
			Revision: func(ctx context.Context, c *v1beta1.Canary) (string, error) {
				st, err := wl.Observe(ctx, c)
				return st.TargetRevision, err
			},

			NoCrossNamespaceRefs: o.NoCrossNamespaceRefs,
			DefaultProvider:      o.MeshProvider,
		}
		if err := r.SetupWithManager(mgr, o.Workers, o.SkipNameValidation); err != nil {
			return nil, err
		}
	}

	var synced atomic.Bool
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return nil, fmt.Errorf("add cache sync check: %w", err)
	}
	if err := mgr.Add(&canaryCounter{cache: mgr.GetCache(), groups: groups, metrics: m.flagger, every: o.ControlLoopInterval}); err != nil {
		return nil, fmt.Errorf("add canary counter: %w", err)
	}
	if enabled(o.DashboardAddr) {
		if err := addDashboard(mgr, cfg, o); err != nil {
			return nil, err
		}
	}
	for _, srv := range endpoints(o.MetricsAddr, o.HealthAddr, o.Registry, &synced) {
		if err := mgr.Add(srv); err != nil {
			return nil, fmt.Errorf("add http server on %s: %w", srv.addr, err)
		}
	}
	return &drainingManager{Manager: mgr, notifiers: notifiers, log: o.Logger}, nil
}

// drainTimeout bounds how long a stopping controller waits for its alerts
// and event webhook calls.
const drainTimeout = 10 * time.Second

// drainingManager is the controller's manager, which, once stopped, gives
// its notifiers drainTimeout to send what they queued: the alerts of the
// controllers' last decisions, which the manager's Start returns after.
type drainingManager struct {
	ctrl.Manager
	notifiers []engine.Drainer
	log       *slog.Logger
}

func (m *drainingManager) Start(ctx context.Context) error {
	err := m.Manager.Start(ctx)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	for _, n := range m.notifiers {
		if derr := n.Drain(dctx); derr != nil {
			m.log.Warn("stopped with messages unsent", "err", derr)
		}
	}
	return err
}

// targetIndex indexes Canaries by the name of their target.
const targetIndex = "spec.targetRef.name"

// SetupWithManager registers the Canary controller of r's group with mgr:
// one workqueue, workers reconciling at once. A Canary is reconciled when it
// changes, when its tick is due, and at once when the spec of its target
// (a Deployment or a DaemonSet) changes, so that a new revision is seen
// without waiting for the next tick.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int, skipNameValidation bool) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), r.newObject(), targetIndex, func(o client.Object) []string {
		return []string{targetName(o)}
	})
	if err != nil {
		return fmt.Errorf("index canaries.%s by target: %w", r.group(), err)
	}
	name := "canary" // serin.dev's, named as before there were two
	if r.flagger() {
		name = "canary-flagger"
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named(name).
		For(r.newObject(), builder.WithPredicates(canaryChanged())).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			SkipNameValidation:      ptr.To(skipNameValidation),
		}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("create canary controller of %s: %w", r.group(), err)
	}
	return nil
}

// canariesOf returns the Canaries whose target has the name of d, a
// Deployment or a DaemonSet. One of the other kind with the same name
// costs a tick the engine makes nothing of.
func (r *Reconciler) canariesOf(ctx context.Context, d client.Object) []reconcile.Request {
	list, err := listCanaries(ctx, r.Client, r.group(), client.InNamespace(d.GetNamespace()), client.MatchingFields{targetIndex: d.GetName()})
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list))
	for _, c := range list {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	}
	return reqs
}

// canaryChanged passes the Canary events that call for a tick: creation,
// deletion, a spec change, a change of annotations (a manual command) or
// the start of a deletion. Status writes do not.
func canaryChanged() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.AnnotationChangedPredicate{},
		predicate.Funcs{
			CreateFunc:  func(event.CreateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
			},
		},
	)
}

// schemeBuilders list the kinds of the controller's scheme.
func schemeBuilders() []func(*runtime.Scheme) error {
	return append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, flaggerv1beta1.AddToScheme}, routerSchemes()...)
}
