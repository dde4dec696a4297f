package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
)

// tick is one call of the scripted engine.
type tick struct {
	name     string
	cmd      rollout.Command
	deleting bool
	at       time.Time
}

// scripted is an engine that advances a counter in the status each tick.
type scripted struct {
	mu    sync.Mutex
	ticks []tick
	every time.Duration
}

func (s *scripted) Tick(_ context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error) {
	s.mu.Lock()
	s.ticks = append(s.ticks, tick{name: c.Name, cmd: cmd, deleting: deleting, at: now})
	s.mu.Unlock()
	st := *c.Status.DeepCopy()
	st.Iterations++
	if st.Phase != v1beta1.PhasePromoting {
		st.Phase = v1beta1.PhaseProgressing
	}
	st.CanaryWeight = 10
	var events []rollout.Event
	switch {
	case deleting:
		st.Phase = v1beta1.PhaseTerminated
	case cmd == rollout.Promote:
		st.Phase = v1beta1.PhasePromoting
		events = append(events, rollout.Event{Type: rollout.Normal, Reason: "Promoting", Message: "Promote " + c.Name + " on request"})
	case st.Iterations == 1:
		events = append(events, rollout.Event{Type: rollout.Normal, Reason: "Synced", Message: fmt.Sprintf("Initialization done! %s.%s", c.Name, c.Namespace)})
	}
	every := s.every
	if c.Spec.Analysis != nil && c.Spec.Analysis.Interval == "1h" {
		every = time.Hour // ticked only by a change
	}
	return rollout.Decision{Status: st, Events: events, RequeueAfter: every}, nil
}

func (s *scripted) of(name string) []tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tick
	for _, t := range s.ticks {
		if t.name == name {
			out = append(out, t)
		}
	}
	return out
}

// startCluster starts a test cluster with serin's CRDs and a scheme that
// has them; controlPlaneOnly leaves out the controllers and kwok.
func startCluster(t *testing.T, controlPlaneOnly bool) (*testenv.Cluster, *runtime.Scheme) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return testenv.Start(t, testenv.Options{Scheme: scheme, CRDs: []string{"../../deploy/crds"}, ControlPlaneOnly: controlPlaneOnly}), scheme
}

func TestReconcilerOnAPIServer(t *testing.T) {
	cluster, scheme := startCluster(t, false)
	cl := cluster.Client()
	ns := cluster.CreateNamespace(t, "reconciler")

	mgr, err := ctrl.NewManager(cluster.RESTConfig(), ctrl.Options{
		Scheme:  scheme,
		Logger:  logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	eng := &scripted{every: 500 * time.Millisecond}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("serin"),
		Metrics:   m,
		Engines: func(provider string) (Ticker, error) {
			if provider != "" {
				return nil, fmt.Errorf("unknown traffic provider %q", provider)
			}
			return eng, nil
		},
		Now:         time.Now,
		MinInterval: 100 * time.Millisecond,
	}
	if err := r.SetupWithManager(mgr, 2, true); err != nil {
		t.Fatal(err)
	}
	runManager(t, mgr)

	newCanary := func(name string, mutate func(*v1beta1.Canary)) *v1beta1.Canary {
		c := &v1beta1.Canary{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1beta1.CanarySpec{
				TargetRef: v1beta1.LocalObjectReference{Name: name},
				Service:   v1beta1.CanaryService{Port: 9898},
				Analysis:  &v1beta1.CanaryAnalysis{Interval: "1s", StepWeight: 10},
			},
		}
		if mutate != nil {
			mutate(c)
		}
		if err := cl.Create(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	get := func(ctx context.Context, name string) (*v1beta1.Canary, error) {
		c := &v1beta1.Canary{}
		return c, cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)
	}

	t.Run("ticks every RequeueAfter and writes the status and events", func(t *testing.T) {
		newCanary("ticks", nil)
		testenv.Eventually(t, 20*time.Second, "5 ticks", func(ctx context.Context) (bool, error) {
			c, err := get(ctx, "ticks")
			return err == nil && c.Status.Iterations >= 5, err
		})
		ticks := eng.of("ticks")
		for i := 2; i < len(ticks); i++ {
			if gap := ticks[i].at.Sub(ticks[i-1].at); gap < 450*time.Millisecond || gap > 2*time.Second {
				t.Errorf("tick %d came %s after the one before, want about 500ms", i, gap)
			}
		}
		c, _ := get(t.Context(), "ticks")
		if c.Status.Phase != v1beta1.PhaseProgressing || c.Status.CanaryWeight != 10 {
			t.Errorf("status = %+v", c.Status)
		}
		waitEvent(t, cl, ns, "ticks", "Synced", "Initialization done! ticks."+ns)
		if got := testutil.ToFloat64(m.weight.WithLabelValues(ns, "ticks")); got != 10 {
			t.Errorf("serin_canary_weight = %v, want 10", got)
		}
		if got := testutil.ToFloat64(m.phase.WithLabelValues(ns, "ticks", "Progressing")); got != 1 {
			t.Errorf("serin_canary_phase{phase=Progressing} = %v, want 1", got)
		}
		if n := testutil.CollectAndCount(m.lag); n == 0 {
			t.Error("no tick lag recorded")
		}
	})

	t.Run("a command annotation is passed once and removed", func(t *testing.T) {
		newCanary("command", func(c *v1beta1.Canary) { c.Spec.Analysis.Interval = "1m" })
		testenv.Eventually(t, 20*time.Second, "first tick", func(ctx context.Context) (bool, error) { return len(eng.of("command")) >= 1, nil })
		c, _ := get(t.Context(), "command")
		orig := c.DeepCopy()
		c.Annotations = map[string]string{CommandAnnotation: "promote"}
		if err := cl.Patch(t.Context(), c, client.MergeFrom(orig)); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "command consumed", func(ctx context.Context) (bool, error) {
			c, err := get(ctx, "command")
			if err != nil {
				return false, err
			}
			_, has := c.Annotations[CommandAnnotation]
			return !has && c.Status.Phase == v1beta1.PhasePromoting, nil
		})
		var promotes int
		for _, tk := range eng.of("command") {
			if tk.cmd == rollout.Promote {
				promotes++
			}
		}
		if promotes != 1 {
			t.Errorf("promote passed %d times, want once", promotes)
		}
		waitEvent(t, cl, ns, "command", "Promoting", "Promote command on request")
	})

	t.Run("a change of the target's spec ticks at once, a Deployment's or a DaemonSet's", func(t *testing.T) {
		labels := map[string]string{"app": "watched"}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
		targets := map[string]client.Object{
			"Deployment": &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "watched-deploy"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}},
			"DaemonSet": &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "watched-ds"},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}},
		}
		for kind, target := range targets {
			name := target.GetName()
			newCanary(name, func(c *v1beta1.Canary) {
				c.Spec.TargetRef = v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: kind, Name: name}
				c.Spec.Analysis.Interval = "1h"
			})
			testenv.Eventually(t, 20*time.Second, "the first tick of "+name, func(context.Context) (bool, error) { return len(eng.of(name)) == 1, nil })
			if err := cl.Create(t.Context(), target); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 20*time.Second, "a tick when the "+kind+" is created", func(context.Context) (bool, error) { return len(eng.of(name)) == 2, nil })
			patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`)
			if err := cl.Patch(t.Context(), target, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 20*time.Second, "a tick when the "+kind+"'s spec changes", func(context.Context) (bool, error) { return len(eng.of(name)) == 3, nil })
		}
	})

	t.Run("revertOnDeletion holds the Canary until the engine terminates it", func(t *testing.T) {
		newCanary("revert", func(c *v1beta1.Canary) { c.Spec.RevertOnDeletion = true })
		testenv.Eventually(t, 20*time.Second, "finalizer", func(ctx context.Context) (bool, error) {
			c, err := get(ctx, "revert")
			return err == nil && slices.Contains(c.Finalizers, Finalizer), err
		})
		c, _ := get(t.Context(), "revert")
		if err := cl.Delete(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "canary gone", func(ctx context.Context) (bool, error) {
			_, err := get(ctx, "revert")
			return client.IgnoreNotFound(err) == nil && err != nil, nil
		})
		ticks := eng.of("revert")
		if last := ticks[len(ticks)-1]; !last.deleting {
			t.Errorf("last tick did not say deleting: %+v", last)
		}
	})

	t.Run("invalid specs are reported, not ticked", func(t *testing.T) {
		newCanary("fast", func(c *v1beta1.Canary) { c.Spec.Analysis.Interval = "10ms" })
		newCanary("provider", func(c *v1beta1.Canary) { c.Spec.Provider = "istio" })
		newCanary("steps", func(c *v1beta1.Canary) { c.Spec.Analysis.StepWeight, c.Spec.Analysis.StepWeights = 0, []int{30, 20} })
		newCanary("local", func(c *v1beta1.Canary) { c.Spec.Provider = "serin" })
		waitEvent(t, cl, ns, "fast", "InvalidSpec", `spec.analysis.interval: must be at least 100ms, got "10ms"`)
		waitEvent(t, cl, ns, "provider", "InvalidSpec", `spec.provider: another mesh's or ingress's provider: serin drives Linkerd (SMI TrafficSplit), Gateway API HTTPRoutes and plain Kubernetes (blue/green), so its fields for other meshes have no effect; want one of "linkerd", "smi", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "gatewayapi", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes", got "istio"`)
		waitEvent(t, cl, ns, "steps", "InvalidSpec", `spec.analysis.stepWeights[1]: must be greater than the weight before it (30), got 20`)
		// The local proxy: valid in a manifest for serin run, not on a cluster.
		waitEvent(t, cl, ns, "local", "InvalidSpec", `spec.provider: serin is the local runtime's proxy, which serin controller does not drive: on a cluster use linkerd, smi:v1alpha1|2|3, gatewayapi:v1|v1beta1 or kubernetes, got "serin"`)
		if n := len(eng.of("fast")) + len(eng.of("provider")) + len(eng.of("steps")) + len(eng.of("local")); n != 0 {
			t.Errorf("invalid canaries ticked %d times", n)
		}
	})

	t.Run("warnings are posted once per generation and the canary is ticked", func(t *testing.T) {
		newCanary("lenient", func(c *v1beta1.Canary) { c.Spec.Analysis.StepWeights = []int{10, 50} })
		const msg = "spec.analysis.stepWeight: has no effect: stepWeights are set and win, as in Flagger"
		waitEvent(t, cl, ns, "lenient", "SpecWarning", msg)
		testenv.Eventually(t, 20*time.Second, "3 ticks", func(context.Context) (bool, error) { return len(eng.of("lenient")) >= 3, nil })
		if n := warningCount(t, cl, ns, "lenient"); n != 1 {
			t.Errorf("after 3 ticks of one generation: warning posted %d times, want 1", n)
		}
		c, err := get(t.Context(), "lenient")
		if err != nil {
			t.Fatal(err)
		}
		c.Spec.Analysis.StepWeights = []int{20, 60}
		if err := cl.Update(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "the warning of the next generation", func(context.Context) (bool, error) {
			return warningCount(t, cl, ns, "lenient") == 2, nil
		})
	})
}

// warningCount is how many times SpecWarning events were posted for a
// Canary (identical events are counted in one Event).
func warningCount(t *testing.T, cl client.Client, ns, canary string) int32 {
	t.Helper()
	list := &corev1.EventList{}
	if err := cl.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, e := range list.Items {
		if e.InvolvedObject.Name == canary && e.Reason == "SpecWarning" {
			n += max(e.Count, 1)
		}
	}
	return n
}

func waitEvent(t *testing.T, cl client.Client, ns, canary, reason, message string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "event "+reason, func(ctx context.Context) (bool, error) {
		list := &corev1.EventList{}
		if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "Canary" && e.InvolvedObject.Name == canary && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

// staleCache is a cache reader that still holds an older copy of a Canary,
// as an informer does until the watch delivers the last write.
type staleCache struct {
	client.Client
	mu    sync.Mutex
	stale *v1beta1.Canary
}

func (s *staleCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	s.mu.Lock()
	stale := s.stale
	s.mu.Unlock()
	if c, ok := obj.(*v1beta1.Canary); ok && stale != nil && client.ObjectKeyFromObject(stale) == key {
		stale.DeepCopyInto(c)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// TestReconcileReadsPastAStaleCache checks that a reconcile that reads, from
// the cache, a Canary older than the status its last tick wrote ticks on the
// API server's copy instead: ticking on the stale copy would write back the
// status before the last decision, and a rollback would be forgotten.
func TestReconcileReadsPastAStaleCache(t *testing.T) {
	cluster, _ := startCluster(t, true)
	cl := cluster.Client()
	ns := cluster.CreateNamespace(t, "stale")
	ctx := t.Context()
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "1s", StepWeight: 10},
		},
	}
	if err := cl.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cache := &staleCache{Client: cl}
	eng := &scripted{every: time.Second}
	r := &Reconciler{
		Client:      cache,
		APIReader:   cl,
		Recorder:    record.NewFakeRecorder(100),
		Metrics:     m,
		Engines:     func(string) (Ticker, error) { return eng, nil },
		Now:         time.Now,
		MinInterval: 100 * time.Millisecond,
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)}

	// The first tick writes iteration 1; the cache keeps the Canary from
	// before that write.
	before := &v1beta1.Canary{}
	if err := cl.Get(ctx, req.NamespacedName, before); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	cache.mu.Lock()
	cache.stale = before
	cache.mu.Unlock()

	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	got := &v1beta1.Canary{}
	if err := cl.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Iterations != 2 {
		t.Errorf("after two ticks, the second with a stale cache: iterations = %d, want 2", got.Status.Iterations)
	}

	// Once the cache has caught up, it is read again.
	cache.mu.Lock()
	cache.stale = got
	cache.mu.Unlock()
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Iterations != 3 {
		t.Errorf("after a third tick: iterations = %d, want 3", got.Status.Iterations)
	}
}

// interrupting is an engine whose tick runs fn once, the first time, as if
// a person acted on the Canary while the tick was under way.
type interrupting struct {
	scripted
	once sync.Once
	fn   func()
}

func (e *interrupting) Tick(ctx context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error) {
	e.once.Do(e.fn)
	return e.scripted.Tick(ctx, c, cmd, deleting, now)
}

// TestCommandSetDuringATickIsNotLost: a command annotation set while a
// tick that consumed another is under way survives the tick's clean-up,
// and the next tick carries it out; the consumed one is removed.
func TestCommandSetDuringATickIsNotLost(t *testing.T) {
	cluster, _ := startCluster(t, true)
	cl := cluster.Client()
	ns := cluster.CreateNamespace(t, "race")
	ctx := t.Context()
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Annotations: map[string]string{CommandAnnotation: "pause"}},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "1s", StepWeight: 10},
		},
	}
	if err := cl.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(c)
	setCommand := func(cmd string) {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, CommandAnnotation, cmd)
		if err := cl.Patch(ctx, &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	eng := &interrupting{scripted: scripted{every: time.Second}, fn: func() { setCommand("abort") }}
	r := &Reconciler{
		Client: cl, APIReader: cl, Recorder: record.NewFakeRecorder(100), Metrics: m,
		Engines: func(string) (Ticker, error) { return eng, nil },
		Now:     time.Now, MinInterval: 100 * time.Millisecond,
	}
	req := ctrl.Request{NamespacedName: key}
	annotation := func() (string, bool) {
		got := &v1beta1.Canary{}
		if err := cl.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		v, ok := got.Annotations[CommandAnnotation]
		return v, ok
	}

	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if v, ok := annotation(); !ok || v != "abort" {
		t.Fatalf("after the tick that consumed pause: annotation %q (set %v), want the abort set during the tick", v, ok)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if v, ok := annotation(); ok {
		t.Errorf("after the tick that consumed abort: annotation %q still set", v)
	}
	ticks := eng.of("podinfo")
	if len(ticks) != 2 || ticks[0].cmd != rollout.Pause || ticks[1].cmd != rollout.Abort {
		t.Errorf("ticks = %+v, want pause then abort, each once", ticks)
	}
}
