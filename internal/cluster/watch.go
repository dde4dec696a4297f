package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Namespace restricts the watches to one namespace; empty watches
	// every namespace.
	Namespace string
	// Prometheus answers Stats with Linkerd's metrics; nil means Stats
	// has none and the dashboard shows dashes.
	Prometheus Querier
	// StatsTTL is how long one set of Prometheus answers serves every
	// caller (default 2s).
	StatsTTL time.Duration
	// MaxEvents is how many events are kept (default 1000).
	MaxEvents int
	// Logger receives Prometheus failures, once per change of error
	// (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Watcher is the dashboard's view of a cluster: informers on Canaries
// (serin.dev, and flagger.app once its CRD is installed),
// Deployments, pods and the Events of Canaries and Deployments, so that
// any number of browsers cost the API server one watch of each. It is a
// dashboard.Source; Start runs it.
type Watcher struct {
	opts   WatchOptions
	client *Client
	cs     kubernetes.Interface
	dyn    dynamic.Interface

	// Set by Start before synced is closed; flagger.app's Canaries may
	// be added later, under canMu.
	canMu    sync.Mutex
	canaries []cache.SharedIndexInformer
	deploys  cache.SharedIndexInformer
	pods     cache.SharedIndexInformer
	synced   chan struct{}

	errMu    sync.Mutex
	watchErr map[string]error // informer name -> last list/watch error
	started  bool

	evMu    sync.Mutex
	events  []local.Event // oldest first, at most MaxEvents
	pending []local.Event // observed before the initial lists ended
	flushed bool
	seq     int64
	notify  chan struct{} // closed and replaced when events are added

	stats statsCache
}

// NewWatcher returns a Watcher of the cluster cfg points at. It does not
// contact the server until Start.
func NewWatcher(cfg *rest.Config, o WatchOptions) (*Watcher, error) {
	if o.StatsTTL <= 0 {
		o.StatsTTL = 2 * time.Second
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "serin-dashboard"
	}
	cl, err := NewForConfig(cfg, o.Namespace)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	return &Watcher{
		opts: o, client: cl, cs: cs, dyn: dyn,
		synced: make(chan struct{}), watchErr: map[string]error{}, notify: make(chan struct{}),
		stats: statsCache{entries: map[time.Duration]*statsEntry{}},
	}, nil
}

// discoveryRetry is how often Start asks again for the cluster's API
// groups while the API server does not answer.
const discoveryRetry = 5 * time.Second

// flaggerRecheck is how often a Watcher looks for Flagger's Canary CRD
// when it was not installed at Start (a variable for tests).
var flaggerRecheck = time.Minute

// Start lists and watches until ctx ends. It returns an error when
// called twice; an API server that does not answer is asked again until
// it does, Snapshot saying why meanwhile.
func (w *Watcher) Start(ctx context.Context) error {
	w.errMu.Lock()
	if w.started {
		w.errMu.Unlock()
		return errors.New("cluster watcher: already started")
	}
	w.started = true
	w.errMu.Unlock()

	ns := w.opts.Namespace
	var flagger bool
	for {
		var err error
		if flagger, err = w.servesFlagger(ctx); err == nil {
			break
		}
		// An API server not reachable yet: Snapshot says so meanwhile.
		w.errMu.Lock()
		w.watchErr["discovery"] = err
		w.errMu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(discoveryRetry):
		}
	}
	w.errMu.Lock()
	delete(w.watchErr, "discovery")
	w.errMu.Unlock()
	factory := informers.NewSharedInformerFactoryWithOptions(w.cs, 0,
		informers.WithNamespace(ns), informers.WithTransform(stripManagedFields))
	w.deploys = factory.Apps().V1().Deployments().Informer()
	w.pods = factory.Core().V1().Pods().Informer()
	all := map[string]cache.SharedIndexInformer{"deployments.apps": w.deploys, "pods": w.pods}

	gvrs := []string{v1beta1.Group}
	if flagger {
		gvrs = append(gvrs, v1beta1.FlaggerGroup)
	}
	for _, group := range gvrs {
		inf, err := w.canaryInformer(group)
		if err != nil {
			return err
		}
		w.canaries = append(w.canaries, inf)
		all["canaries."+group] = inf
	}
	for _, kind := range []string{"Canary", "Deployment"} {
		sel := fields.OneTermEqualSelector("involvedObject.kind", kind).String()
		lw := cache.NewFilteredListWatchFromClient(w.cs.CoreV1().RESTClient(), "events", ns, func(o *metav1.ListOptions) {
			o.FieldSelector = sel
		})
		inf := cache.NewSharedIndexInformer(lw, &corev1.Event{}, 0, cache.Indexers{})
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return fmt.Errorf("cluster watcher: %w", err)
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if e, ok := obj.(*corev1.Event); ok {
					w.observe(eventOf(e))
				}
			},
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Event)
				c, ok2 := cur.(*corev1.Event)
				if ok1 && ok2 && eventOf(o) != eventOf(c) {
					w.observe(eventOf(c))
				}
			},
		}); err != nil {
			return fmt.Errorf("cluster watcher: %w", err)
		}
		all["events of "+kind+"s"] = inf
	}
	for name, inf := range all {
		if err := w.recordErrors(name, inf); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var syncs []cache.InformerSynced
	for _, inf := range all {
		syncs = append(syncs, inf.HasSynced)
		wg.Go(func() { inf.Run(ctx.Done()) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil
	}
	w.flush()
	close(w.synced)
	if flagger {
		<-ctx.Done()
		return nil
	}
	// Flagger's CRD, or the right to list its Canaries, may come later:
	// look for them now and then.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(flaggerRecheck):
		}
		if ok, err := w.servesFlagger(ctx); err != nil || !ok {
			continue
		}
		inf, err := w.canaryInformer(v1beta1.FlaggerGroup)
		if err == nil {
			err = w.recordErrors("canaries."+v1beta1.FlaggerGroup, inf)
		}
		if err != nil {
			return err
		}
		wg.Go(func() { inf.Run(ctx.Done()) })
		if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			w.canMu.Lock()
			w.canaries = append(w.canaries, inf)
			w.canMu.Unlock()
		}
		<-ctx.Done()
		return nil
	}
}

// canaryInformer returns an informer of the Canaries of group that keeps
// them as *v1beta1.Canary.
func (w *Watcher) canaryInformer(group string) (cache.SharedIndexInformer, error) {
	gvr := v1beta1.GroupVersion.WithResource("canaries")
	gvr.Group = group
	inf := dynamicinformer.NewFilteredDynamicInformer(w.dyn, gvr, w.opts.Namespace, 0, cache.Indexers{}, nil).Informer()
	if err := inf.SetTransform(canaryOf(group)); err != nil {
		return nil, fmt.Errorf("cluster watcher: %w", err)
	}
	return inf, nil
}

// recordErrors keeps the last list or watch error of inf under name, for
// Snapshot to say why it has nothing yet.
func (w *Watcher) recordErrors(name string, inf cache.SharedIndexInformer) error {
	err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		w.errMu.Lock()
		w.watchErr[name] = err
		w.errMu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("cluster watcher: %w", err)
	}
	return nil
}

// NeedLeaderElection is false: every replica of the controller serves
// the dashboard.
func (w *Watcher) NeedLeaderElection() bool { return false }

// servesFlagger reports whether the cluster serves flagger.app Canaries
// that the Watcher's user may list: one who may not would keep the
// caches from ever syncing, and sees serin.dev's alone.
func (w *Watcher) servesFlagger(ctx context.Context) (bool, error) {
	_, err := w.cs.Discovery().ServerResourcesForGroupVersion(v1beta1.FlaggerGroup + "/v1beta1")
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("discover %s/v1beta1: %w", v1beta1.FlaggerGroup, err)
	}
	gvr := v1beta1.GroupVersion.WithResource("canaries")
	gvr.Group = v1beta1.FlaggerGroup
	_, err = w.dyn.Resource(gvr).Namespace(w.opts.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("list canaries.%s: %w", v1beta1.FlaggerGroup, err)
	}
	return true, nil
}

// stripManagedFields drops what the dashboard never reads from cached
// objects.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// canaryOf converts the informer's unstructured Canaries of group to
// *v1beta1.Canary once, as they arrive. One that does not convert is kept
// with its metadata and a message saying why.
func canaryOf(group string) cache.TransformFunc {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		u.SetManagedFields(nil)
		c := &v1beta1.Canary{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, c); err != nil {
			c = &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{
				Namespace: u.GetNamespace(), Name: u.GetName(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(),
			}}
			c.Status.Message = fmt.Sprintf("canary.%s %s/%s cannot be read: %v", group, u.GetNamespace(), u.GetName(), err)
		}
		c.APIVersion, c.Kind = group+"/"+v1beta1.GroupVersion.Version, "Canary"
		return c, nil
	}
}

// waitSynced waits for the first lists of every informer, or says what
// keeps them from ending when ctx ends first.
func (w *Watcher) waitSynced(ctx context.Context) error {
	select {
	case <-w.synced:
		return nil
	case <-ctx.Done():
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if !w.started {
		return errors.New("cluster watcher: not started")
	}
	var errs []string
	for name, err := range w.watchErr {
		errs = append(errs, fmt.Sprintf("%s: %v", name, err))
	}
	slices.Sort(errs)
	if len(errs) == 0 {
		return fmt.Errorf("the cluster's objects are still being listed: %w", ctx.Err())
	}
	return fmt.Errorf("the cluster's objects could not be listed: %s", strings.Join(errs, "; "))
}

// Snapshot returns the Canaries, Deployments and pods from the caches.
func (w *Watcher) Snapshot(ctx context.Context) (local.Snapshot, error) {
	if err := w.waitSynced(ctx); err != nil {
		return local.Snapshot{}, err
	}
	var s local.Snapshot
	w.canMu.Lock()
	canaries := slices.Clone(w.canaries)
	w.canMu.Unlock()
	for _, inf := range canaries {
		for _, o := range inf.GetStore().List() {
			if c, ok := o.(*v1beta1.Canary); ok {
				s.Canaries = append(s.Canaries, *c.DeepCopy())
			}
		}
	}
	slices.SortStableFunc(s.Canaries, func(a, b v1beta1.Canary) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, o := range w.deploys.GetStore().List() {
		if d, ok := o.(*appsv1.Deployment); ok {
			s.Deployments = append(s.Deployments, deploymentView(*d.DeepCopy()))
		}
	}
	slices.SortFunc(s.Deployments, func(a, b local.DeploymentView) int {
		return strings.Compare(a.Deployment.Namespace+"/"+a.Deployment.Name, b.Deployment.Namespace+"/"+b.Deployment.Name)
	})
	for _, o := range w.pods.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			s.Pods = append(s.Pods, podStatus(p))
		}
	}
	slices.SortFunc(s.Pods, func(a, b local.PodStatus) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return s, nil
}

// podStatus is a pod as the local runtime describes its own.
func podStatus(p *corev1.Pod) local.PodStatus {
	s := local.PodStatus{
		Name: p.Name, Namespace: p.Namespace, Labels: p.Labels,
		Deployment:  deploymentOfPod(p),
		Revision:    p.Labels[appsv1.DefaultDeploymentUniqueLabelKey],
		Terminating: p.DeletionTimestamp != nil,
		Started:     p.CreationTimestamp.Time,
		Reason:      p.Status.Reason,
	}
	if p.Status.StartTime != nil {
		s.Started = p.Status.StartTime.Time
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s.Ready = c.Status == corev1.ConditionTrue
			if !s.Ready && s.Reason == "" {
				s.Reason = c.Message
			}
		}
	}
	running := p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0
	for _, cs := range p.Status.ContainerStatuses {
		s.Restarts += int(cs.RestartCount)
		if cs.State.Running == nil {
			running = false
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			s.Reason = w.Reason
			if w.Message != "" {
				s.Reason += ": " + w.Message
			}
		}
	}
	s.Running = running
	return s
}

// deploymentOfPod names the Deployment of a pod: its ReplicaSet owner's
// name less the pod template hash.
func deploymentOfPod(p *corev1.Pod) string {
	hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" && hash != "" {
			if d, ok := strings.CutSuffix(o.Name, "-"+hash); ok {
				return d
			}
		}
	}
	return ""
}

// Command gives a serin.dev Canary a manual command, as Client.Command.
func (w *Watcher) Command(ctx context.Context, ns, name string, cmd rollout.Command) error {
	return w.client.Command(ctx, ns, name, cmd)
}

// observe records an event: at once after the initial lists, else in
// pending until flush orders them.
func (w *Watcher) observe(e local.Event) {
	w.evMu.Lock()
	defer w.evMu.Unlock()
	if !w.flushed {
		w.pending = append(w.pending, e)
		return
	}
	w.appendLocked(e)
}

// flush numbers the events of the initial lists, oldest first.
func (w *Watcher) flush() {
	w.evMu.Lock()
	defer w.evMu.Unlock()
	slices.SortStableFunc(w.pending, func(a, b local.Event) int { return a.Time.Compare(b.Time) })
	for _, e := range w.pending {
		w.appendLocked(e)
	}
	w.pending, w.flushed = nil, true
}

func (w *Watcher) appendLocked(e local.Event) {
	w.seq++
	e.Seq = w.seq
	w.events = append(w.events, e)
	if n := len(w.events) - w.opts.MaxEvents; n > 0 {
		w.events = slices.Delete(w.events, 0, n)
	}
	close(w.notify)
	w.notify = make(chan struct{})
}

// Events calls f with the events observed after since, oldest first,
// numbered in the order the Watcher saw them; with watch it then waits
// for new ones until ctx ends.
func (w *Watcher) Events(ctx context.Context, since int64, watch bool, f func(local.Event) error) error {
	if err := w.waitSynced(ctx); err != nil {
		if watch && ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		w.evMu.Lock()
		i, _ := slices.BinarySearchFunc(w.events, since+1, func(e local.Event, seq int64) int { return cmp.Compare(e.Seq, seq) })
		batch := slices.Clone(w.events[i:])
		ch := w.notify
		w.evMu.Unlock()
		for _, e := range batch {
			if err := f(e); err != nil {
				return err
			}
			since = e.Seq
		}
		if !watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}
