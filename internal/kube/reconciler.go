package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// CommandAnnotation carries a manual command (promote, abort, pause,
// resume) to the next tick of a Canary. It is removed once consumed.
const CommandAnnotation = "serin.dev/command"

// Finalizer holds a Canary with spec.revertOnDeletion until the target is
// restored.
const Finalizer = "serin.dev/finalizer"

// FlaggerFinalizer is Finalizer for flagger.app Canaries: Flagger's name,
// so that a Canary Flagger gave it is restored by serin on deletion rather
// than held forever by a finalizer no one removes.
const FlaggerFinalizer = "finalizer.flagger.app"

// finalizer is the finalizer of r's group.
func (r *Reconciler) finalizer() string {
	if r.flagger() {
		return FlaggerFinalizer
	}
	return Finalizer
}

// Ticker runs one tick of the rollout engine for a Canary, as
// (*engine.Engine).Tick.
type Ticker interface {
	Tick(ctx context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error)
}

// Engines returns the engine for a Canary's traffic provider. An unknown
// provider is an error.
type Engines func(provider string) (Ticker, error)

// Reconciler reconciles the Canaries of one API group: one tick of the
// engine per reconcile.
type Reconciler struct {
	// Group is the API group of the Canaries: v1beta1.Group (the default
	// when empty) or v1beta1.FlaggerGroup.
	Group string
	// Client reads from the informer cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server, for conflict retries and when
	// the cache is behind this controller's last write.
	APIReader client.Reader
	Recorder  record.EventRecorder
	Metrics   *Metrics
	Engines   Engines
	// Now is the clock.
	Now func() time.Time
	// MinInterval is the shortest analysis interval accepted.
	MinInterval time.Duration
	// NoCrossNamespaceRefs refuses Canaries that refer to MetricTemplates
	// or AlertProviders in another namespace.
	NoCrossNamespaceRefs bool
	// DefaultProvider is the provider of Canaries without spec.provider
	// (--mesh-provider), for the warnings that depend on it.
	DefaultProvider string
	// Revision returns the revision of a Canary's target as the engine
	// computes it, to take over a status Flagger wrote (adoptRevision);
	// nil leaves such a status as it is.
	Revision func(ctx context.Context, c *v1beta1.Canary) (string, error)

	mu  sync.Mutex
	due map[types.NamespacedName]time.Time
	// written is the resourceVersion of each Canary as this controller last
	// wrote or read it from the API server, to tell a stale cache.
	written map[types.NamespacedName]string
	// warned is the generation of each Canary whose warnings were posted.
	warned map[types.NamespacedName]int64
	// memo holds the full status last written of each flagger.app Canary,
	// whose stored status lacks serin's fields (restoreStatus).
	memo map[types.NamespacedName]statusMemo
}

// Reconcile runs one tick for the Canary req names.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Now()
	res, result, err := r.reconcile(ctx, req, start)
	r.Metrics.observeReconcile(result, r.Now().Sub(start))
	return res, err // controller-runtime logs the error and retries with backoff
}

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request, now time.Time) (ctrl.Result, string, error) {
	c, err := r.get(ctx, r.Client, req.NamespacedName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, "success", nil
		}
		return ctrl.Result{}, "error", fmt.Errorf("read canary %s: %w", req, err)
	}
	c, err = r.fresh(ctx, c)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, "success", nil
		}
		return ctrl.Result{}, "error", fmt.Errorf("read canary %s: %w", req, err)
	}
	r.observeLag(req.NamespacedName, now)
	if err := r.restoreStatus(ctx, c, now); err != nil {
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "ReconcileError", err.Error())
		return ctrl.Result{}, "error", err
	}

	deleting := !c.DeletionTimestamp.IsZero()
	hasFinalizer := controllerutil.ContainsFinalizer(c, r.finalizer())
	switch {
	case deleting && !hasFinalizer:
		r.forget(req.NamespacedName)
		return ctrl.Result{}, "success", nil
	case !deleting && c.Spec.RevertOnDeletion != hasFinalizer:
		if c, err = r.setFinalizer(ctx, c, c.Spec.RevertOnDeletion); err != nil {
			return ctrl.Result{}, "error", err
		}
	}
	warnings, err := r.validate(c)
	if err != nil {
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "InvalidSpec", err.Error())
		r.clearDue(req.NamespacedName)
		return ctrl.Result{}, "invalid", nil
	}
	if len(warnings) > 0 && r.firstWarning(req.NamespacedName, c.Generation) {
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "SpecWarning", v1beta1.Warnings(warnings))
	}

	cmd, cmdErr := command(c)
	consumed := c.Annotations[CommandAnnotation] // what this tick is given
	if cmdErr != nil {
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "InvalidCommand", cmdErr.Error())
	}
	eng, err := r.Engines(c.Spec.Provider)
	if err != nil {
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "InvalidSpec", err.Error())
		r.clearDue(req.NamespacedName)
		return ctrl.Result{}, "invalid", nil
	}
	tickStart := r.Now()
	ticked := c.DeepCopy()
	d, err := eng.Tick(ctx, c.DeepCopy(), cmd, deleting, now)
	if err != nil {
		// The engine wrote nothing; the workqueue retries with backoff.
		r.Recorder.Event(r.object(c), corev1.EventTypeWarning, "ReconcileError", err.Error())
		return ctrl.Result{}, "error", fmt.Errorf("tick canary %s: %w", req, err)
	}
	for _, e := range d.Events {
		r.Recorder.Event(r.object(c), string(e.Type), e.Reason, e.Message)
	}
	c, err = r.writeStatus(ctx, c, d.Status)
	if err != nil {
		return ctrl.Result{}, "error", err
	}
	if cmd != rollout.NoCommand || cmdErr != nil {
		if c, err = r.clearCommand(ctx, c, consumed); err != nil {
			return ctrl.Result{}, "error", err
		}
	}
	r.Metrics.observeCanary(ticked, d, r.Now().Sub(tickStart))

	if deleting && d.Status.Phase == v1beta1.PhaseTerminated {
		if _, err := r.setFinalizer(ctx, c, false); err != nil {
			return ctrl.Result{}, "error", err
		}
		r.forget(req.NamespacedName)
		return ctrl.Result{}, "success", nil
	}
	next := d.RequeueAfter
	if next <= 0 {
		next = c.Spec.Analysis.IntervalDuration()
	}
	due := now.Add(next)
	r.setDue(req.NamespacedName, due)
	return ctrl.Result{RequeueAfter: untilDue(due, r.Now())}, "success", nil
}

// untilDue is the RequeueAfter of a tick due at due: the time left from
// now, so that the time this reconcile took does not delay the next tick
// (ticks stay on their interval rather than drifting by the reconcile
// duration each time). A tick already due is requeued at once.
func untilDue(due, now time.Time) time.Duration {
	return max(due.Sub(now), time.Nanosecond)
}

// command reads the manual command annotation.
func command(c *v1beta1.Canary) (rollout.Command, error) {
	v, ok := c.Annotations[CommandAnnotation]
	if !ok {
		return rollout.NoCommand, nil
	}
	if cmd := rollout.Command(v); cmd.Valid() {
		return cmd, nil
	}
	return rollout.NoCommand, fmt.Errorf("metadata.annotations[%s]: must be promote, abort, pause, resume or retry, got %q", CommandAnnotation, v)
}

// validate checks c's spec as `serin validate` does (Admission), with the
// controller's minimum interval: a Canary with problems is reported and not
// ticked until it is fixed. It returns the warnings of a valid Canary.
func (r *Reconciler) validate(c *v1beta1.Canary) ([]v1beta1.Warning, error) {
	errs, warnings := r.admission().Check(c)
	if len(errs) == 0 {
		return warnings, nil
	}
	return nil, errors.New(v1beta1.Problems(errs))
}

func (r *Reconciler) admission() Admission {
	return Admission{MinInterval: r.MinInterval, DefaultProvider: r.DefaultProvider, NoCrossNamespaceRefs: r.NoCrossNamespaceRefs}
}

// firstWarning reports whether the warnings of generation gen of the
// Canary key are yet to be posted, and records that they are.
func (r *Reconciler) firstWarning(key types.NamespacedName, gen int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warned == nil {
		r.warned = map[types.NamespacedName]int64{}
	}
	if g, ok := r.warned[key]; ok && g == gen {
		return false
	}
	r.warned[key] = gen
	return true
}

// crossNamespaceRefs returns a problem for each reference of c to a
// MetricTemplate or AlertProvider in another namespace.
func crossNamespaceRefs(c *v1beta1.Canary) field.ErrorList {
	a := c.Spec.Analysis
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	why := "cross-namespace references are disabled (--no-cross-namespace-refs)"
	for i, m := range a.Metrics {
		if ref := m.TemplateRef; ref != nil && ref.Namespace != "" && ref.Namespace != c.Namespace {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "analysis", "metrics").Index(i).Child("templateRef", "namespace"), why))
		}
	}
	for i, al := range a.Alerts {
		if ns := al.ProviderRef.Namespace; ns != "" && ns != c.Namespace {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "analysis", "alerts").Index(i).Child("providerRef", "namespace"), why))
		}
	}
	return errs
}

// writeStatus writes st as c's status when it changed, retrying on
// conflict with the latest Canary from the API server. It returns the
// Canary as written.
func (r *Reconciler) writeStatus(ctx context.Context, c *v1beta1.Canary, st v1beta1.CanaryStatus) (*v1beta1.Canary, error) {
	if equality.Semantic.DeepEqual(c.Status, st) {
		return c, nil
	}
	cur := c.DeepCopy()
	obj := r.object(cur) // cur, as r's group: what is read into obj is in cur
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur.Status = st
		err := r.Client.Status().Update(ctx, obj)
		if apierrors.IsConflict(err) {
			if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(c), obj); gerr != nil {
				return errors.Join(err, gerr)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write status of canary %s/%s: %w", c.Namespace, c.Name, err)
	}
	cur = r.canary(obj)
	key := client.ObjectKeyFromObject(cur)
	r.setWritten(key, cur.ResourceVersion)
	if r.flagger() {
		r.remember(key, cur.Status, st)
	}
	return cur, nil
}

// fresh returns c, read from the informer cache, or the Canary as the API
// server has it when the cache has not caught up with the last version this
// controller wrote or read. A tick computed from a Canary older than the
// last tick's decision would undo that decision: a reconcile queued by the
// Deployment the last tick scaled down can run before the watch has
// delivered the status that tick wrote (a rollback would be forgotten).
func (r *Reconciler) fresh(ctx context.Context, c *v1beta1.Canary) (*v1beta1.Canary, error) {
	key := client.ObjectKeyFromObject(c)
	r.mu.Lock()
	rv, ok := r.written[key]
	r.mu.Unlock()
	if !ok || rv == c.ResourceVersion {
		return c, nil
	}
	live, err := r.get(ctx, r.APIReader, key)
	if err != nil {
		return nil, err
	}
	r.setWritten(key, live.ResourceVersion)
	return live, nil
}

func (r *Reconciler) setWritten(key types.NamespacedName, rv string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[types.NamespacedName]string{}
	}
	r.written[key] = rv
}

// clearCommand removes the command annotation once its command, consumed,
// has been carried out, and returns the Canary as written. The patch is
// conditional on the resourceVersion of c: when the Canary changed since,
// it is read again, and the annotation is left for the next reconcile if
// it now holds another command (set during the tick), so that no command
// is lost to a blind delete.
func (r *Reconciler) clearCommand(ctx context.Context, c *v1beta1.Canary, consumed string) (*v1beta1.Canary, error) {
	cur := c
	for range 5 {
		v, ok := cur.Annotations[CommandAnnotation]
		if !ok || v != consumed {
			return cur, nil // gone, or a newer command waits for its tick
		}
		patch := fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q,"annotations":{%q:null}}}`, cur.ResourceVersion, CommandAnnotation)
		obj := r.object(cur.DeepCopy())
		err := r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
		switch {
		case err == nil:
			updated := r.canary(obj)
			r.setWritten(client.ObjectKeyFromObject(updated), updated.ResourceVersion)
			return updated, nil
		case apierrors.IsNotFound(err):
			return cur, nil
		case !apierrors.IsConflict(err):
			return nil, fmt.Errorf("remove %s from canary %s/%s: %w", CommandAnnotation, c.Namespace, c.Name, err)
		}
		live, err := r.get(ctx, r.APIReader, client.ObjectKeyFromObject(c))
		if err != nil {
			return nil, fmt.Errorf("remove %s from canary %s/%s: %w", CommandAnnotation, c.Namespace, c.Name, err)
		}
		cur = live
	}
	return nil, fmt.Errorf("remove %s from canary %s/%s: it kept changing", CommandAnnotation, c.Namespace, c.Name)
}

// setFinalizer adds or removes the finalizer and returns the Canary as
// written.
func (r *Reconciler) setFinalizer(ctx context.Context, c *v1beta1.Canary, on bool) (*v1beta1.Canary, error) {
	updated := c.DeepCopy()
	if on {
		controllerutil.AddFinalizer(updated, r.finalizer())
	} else {
		controllerutil.RemoveFinalizer(updated, r.finalizer())
	}
	obj := r.object(updated)
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(r.object(c), client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return c, nil
		}
		return nil, fmt.Errorf("update finalizers of canary %s/%s: %w", c.Namespace, c.Name, err)
	}
	updated = r.canary(obj)
	r.setWritten(client.ObjectKeyFromObject(updated), updated.ResourceVersion)
	return updated, nil
}

// observeLag records how late a tick runs after its due time. Reconciles
// that run before the due time (a spec change) are not ticks that were due.
func (r *Reconciler) observeLag(key types.NamespacedName, now time.Time) {
	r.mu.Lock()
	due, ok := r.due[key]
	r.mu.Unlock()
	if ok && !now.Before(due) {
		r.Metrics.observeLag(now.Sub(due))
	}
}

func (r *Reconciler) setDue(key types.NamespacedName, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.due == nil {
		r.due = map[types.NamespacedName]time.Time{}
	}
	r.due[key] = t
}

func (r *Reconciler) clearDue(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.due, key)
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.clearDue(key)
	r.mu.Lock()
	delete(r.written, key)
	delete(r.warned, key)
	delete(r.memo, key)
	r.mu.Unlock()
	r.Metrics.forget(key.Namespace, key.Name)
}
