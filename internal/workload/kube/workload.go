package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
)

// Workload carries out a Canary's workload actions on Deployments (or
// DaemonSets), Services and HorizontalPodAutoscalers.
type Workload struct {
	c client.Client
	o Options
}

var _ engine.Workload = (*Workload)(nil)

// Options are Flagger's controller flags that shape the workloads. The
// zero value is Flagger's defaults.
type Options struct {
	// SelectorLabels are the pod labels, in order of preference, whose
	// value tells the primary's pods from the target's (Flagger's
	// -selector-labels); empty is app, name, app.kubernetes.io/name.
	SelectorLabels []string
	// IncludeLabelPrefixes are the prefixes of the target's labels copied
	// to the primary Deployment; "*" copies all, none copies none
	// (Flagger's -include-label-prefix).
	IncludeLabelPrefixes []string
	// DisableConfigTracking stops tracking the ConfigMaps and Secrets the
	// target references (Flagger's -enable-config-tracking=false): they
	// are neither part of the revision nor copied for the primary.
	DisableConfigTracking bool
}

// New returns a Workload that reads and writes through c. c's scheme must
// know serin's kinds and the core, apps and autoscaling/v2 kinds, for the
// owner references of the objects it creates.
func New(c client.Client, o Options) *Workload {
	if len(o.SelectorLabels) == 0 {
		o.SelectorLabels = []string{"app", "name", "app.kubernetes.io/name"}
	}
	return &Workload{c: c, o: o}
}

// readConfigs reads the configs spec references, or none when config
// tracking is disabled.
func (w *Workload) readConfigs(ctx context.Context, ns string, spec *corev1.PodSpec) ([]trackedConfig, error) {
	if w.o.DisableConfigTracking {
		return nil, nil
	}
	return readConfigs(ctx, w.c, ns, spec)
}

// Observe reads the target and the primary and computes the target's
// revision.
func (w *Workload) Observe(ctx context.Context, c *v1beta1.Canary) (rollout.WorkloadState, error) {
	var st rollout.WorkloadState
	if err := checkTargetKind(c); err != nil {
		return st, err
	}
	if isDaemonSet(c) {
		return w.observeDaemonSet(ctx, c)
	}
	target, err := w.deployment(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return st, err
	}
	if target != nil {
		if err := w.observeTarget(ctx, c, target, readiness(target), &st); err != nil {
			return st, err
		}
	}
	primary, err := w.deployment(ctx, c.Namespace, PrimaryName(c))
	if err != nil {
		return st, err
	}
	if primary != nil {
		st.PrimaryFound = true
		st.Primary = readiness(primary)
	}
	return st, nil
}

// observeTarget fills in the target's part of st: its revision, from view
// (the target, or the Deployment view of a DaemonSet), its tracked configs
// and ready.
func (w *Workload) observeTarget(ctx context.Context, c *v1beta1.Canary, view *appsv1.Deployment, ready rollout.Readiness, st *rollout.WorkloadState) error {
	tracked, err := w.readConfigs(ctx, c.Namespace, &view.Spec.Template.Spec)
	if err != nil {
		return err
	}
	st.TargetFound = true
	if st.TargetRevision, err = revision(view, tracked); err != nil {
		return err
	}
	st.Target = ready
	if len(tracked) > 0 {
		st.TrackedConfigs = make(map[string]string, len(tracked))
		for _, t := range tracked {
			st.TrackedConfigs[t.ref.key()] = t.hash
		}
	}
	return nil
}

// Apply carries out one workload action.
func (w *Workload) Apply(ctx context.Context, c *v1beta1.Canary, a rollout.Action) error {
	if err := checkTargetKind(c); err != nil {
		return err
	}
	if isDaemonSet(c) {
		return w.applyDaemonSet(ctx, c, a)
	}
	switch a.Type {
	case rollout.InitPrimary:
		return w.initPrimary(ctx, c)
	case rollout.ScaleCanaryUp:
		n, err := w.canaryReplicas(ctx, c)
		if err != nil {
			return err
		}
		return w.scale(ctx, c.Namespace, c.Spec.TargetRef.Name, n)
	case rollout.ScaleCanaryDown:
		return w.scale(ctx, c.Namespace, c.Spec.TargetRef.Name, 0)
	case rollout.PromotePrimary:
		return w.promote(ctx, c)
	case rollout.RestoreTarget:
		return w.restore(ctx, c)
	}
	return fmt.Errorf("workload action %q is not supported", a.Type)
}

func checkTargetKind(c *v1beta1.Canary) error {
	switch k := c.Spec.TargetRef.Kind; k {
	case "", "Deployment", "DaemonSet":
	default:
		return fmt.Errorf("spec.targetRef.kind: only Deployment and DaemonSet are supported, got %q", k)
	}
	if isDaemonSet(c) && c.Spec.AutoscalerRef != nil {
		return fmt.Errorf("spec.autoscalerRef: %s", v1beta1.DaemonSetAutoscaler)
	}
	return nil
}

// deployment reads a Deployment; nil when it does not exist.
func (w *Workload) deployment(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	if err := w.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read deployment %s/%s: %w", ns, name, err)
	}
	return d, nil
}

// target reads the target, which must exist, and its tracked configs.
func (w *Workload) target(ctx context.Context, c *v1beta1.Canary) (*appsv1.Deployment, []trackedConfig, error) {
	t, err := w.deployment(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		return nil, nil, fmt.Errorf("target deployment %s/%s not found", c.Namespace, c.Spec.TargetRef.Name)
	}
	tracked, err := w.readConfigs(ctx, c.Namespace, &t.Spec.Template.Spec)
	if err != nil {
		return nil, nil, err
	}
	return t, tracked, nil
}

// revision hashes the target's pod template and its tracked configs.
// IsRevision says whether s is a revision as this package computes it (16
// lowercase hexadecimal digits), rather than one another controller wrote
// in a Canary's status (Flagger's are shorter and use other letters).
func IsRevision(s string) bool {
	if len(s) != revisionLen {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// revisionLen is the length of a revision.
const revisionLen = 16

func revision(d *appsv1.Deployment, tracked []trackedConfig) (string, error) {
	b, err := json.Marshal(d.Spec.Template)
	if err != nil {
		return "", fmt.Errorf("hash pod template of %s: %w", d.Name, err)
	}
	h := sha256.New()
	h.Write(b)
	for _, t := range tracked {
		fmt.Fprintf(h, "\n%s=%s", t.ref.key(), t.hash)
	}
	return hex.EncodeToString(h.Sum(nil))[:revisionLen], nil
}

// readiness reports a Deployment's replicas. Until the Deployment
// controller has observed the latest spec, no replica counts as updated.
func readiness(d *appsv1.Deployment) rollout.Readiness {
	r := rollout.Readiness{Desired: 1, Ready: d.Status.ReadyReplicas}
	if d.Spec.Replicas != nil {
		r.Desired = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration >= d.Generation {
		r.Updated = d.Status.UpdatedReplicas
	} else {
		r.Reason = fmt.Sprintf("deployment %s: waiting for the deployment controller to observe generation %d", d.Name, d.Generation)
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
			r.Reason = fmt.Sprintf("deployment %s: %s", d.Name, cond.Message)
		}
	}
	return r
}
