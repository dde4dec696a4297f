package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

// CommandAnnotation carries a manual command to serin's controller.
const CommandAnnotation = "serin.dev/command"

// Client reads and steers a cluster's releases.
type Client struct {
	cl        client.WithWatch
	namespace string
}

// New connects to the cluster o names. It does not contact the server.
func New(o Options) (*Client, error) {
	cfg, ns, err := Load(o)
	if err != nil {
		return nil, err
	}
	return NewForConfig(cfg, ns)
}

// NewForConfig returns a client of the cluster cfg points at, whose
// default namespace is ns.
func NewForConfig(cfg *rest.Config, ns string) (*Client, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, flaggerv1beta1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "serin-cli"
	}
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	return &Client{cl: cl, namespace: ns}, nil
}

// DefaultNamespace is the namespace of the kubeconfig's context.
func (c *Client) DefaultNamespace() string { return c.namespace }

// Canaries lists the Canaries in ns (every namespace when ns is empty):
// serin.dev's, then flagger.app's where that CRD is installed, each with
// its apiVersion and kind set.
func (c *Client) Canaries(ctx context.Context, ns string) ([]v1beta1.Canary, error) {
	var list v1beta1.CanaryList
	if err := c.cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, access(err, "list", "canaries.serin.dev", ns)
	}
	out := list.Items
	for i := range out {
		out[i].APIVersion, out[i].Kind = v1beta1.GroupVersion.String(), "Canary"
	}
	flagger, err := c.flaggerCanaries(ctx, ns)
	if err != nil {
		return nil, err
	}
	out = append(out, flagger...)
	slices.SortStableFunc(out, func(a, b v1beta1.Canary) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

// flaggerCanaries lists flagger.app Canaries, none when the CRD is not
// installed.
func (c *Client) flaggerCanaries(ctx context.Context, ns string) ([]v1beta1.Canary, error) {
	var list flaggerv1beta1.CanaryList
	if err := c.cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, access(err, "list", "canaries.flagger.app", ns)
	}
	out := make([]v1beta1.Canary, 0, len(list.Items))
	for _, item := range list.Items {
		cn := v1beta1.Canary(item)
		cn.APIVersion, cn.Kind = v1beta1.FlaggerGroupVersion, "Canary"
		out = append(out, cn)
	}
	return out, nil
}

// Deployments lists the Deployments in ns (every namespace when empty).
func (c *Client) Deployments(ctx context.Context, ns string) ([]local.DeploymentView, error) {
	var list appsv1.DeploymentList
	if err := c.cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, access(err, "list", "deployments.apps", ns)
	}
	out := make([]local.DeploymentView, 0, len(list.Items))
	for _, d := range list.Items {
		out = append(out, deploymentView(d))
	}
	return out, nil
}

// deploymentView is a Deployment with its revision, ready and updated
// replicas, and why pods are not ready.
func deploymentView(d appsv1.Deployment) local.DeploymentView {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = new(int32)
		*d.Spec.Replicas = 1
	}
	v := local.DeploymentView{
		Deployment: d,
		Revision:   d.Annotations["deployment.kubernetes.io/revision"],
		Ready:      d.Status.ReadyReplicas,
		UpToDate:   d.Status.UpdatedReplicas,
	}
	for _, cond := range d.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && cond.Message != "" {
			v.Reason = cond.Message
		}
	}
	return v
}

// Command gives a Canary a manual command by setting its serin.dev/command
// annotation, conditional on the resourceVersion read: the serin.dev
// Canary of that name, else the flagger.app one (serin's controller
// reconciles both groups). A different command still waiting for the
// controller is an error, not overwritten.
func (c *Client) Command(ctx context.Context, ns, name string, cmd rollout.Command) error {
	for range 5 {
		cn, resource, err := c.commandTarget(ctx, ns, name)
		if err != nil {
			return err
		}
		switch pending := cn.GetAnnotations()[CommandAnnotation]; pending {
		case string(cmd):
			return nil // already asked, not yet consumed
		case "":
		default:
			return fmt.Errorf("canary %s/%s: command %q is still waiting for the controller; send %s once it is consumed", ns, name, pending, cmd)
		}
		patch := fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q,"annotations":{%q:%q}}}`, cn.GetResourceVersion(), CommandAnnotation, cmd)
		err = c.cl.Patch(ctx, cn, client.RawPatch("application/merge-patch+json", patch))
		if apierrors.IsConflict(err) {
			continue // changed since read: look again
		}
		return access(err, "patch", resource, ns)
	}
	return fmt.Errorf("canary %s/%s: it kept changing while the command was written; try again", ns, name)
}

// commandTarget reads the Canary a command is for: serin.dev's, else
// flagger.app's where that CRD is installed. It returns the resource read,
// for error messages.
func (c *Client) commandTarget(ctx context.Context, ns, name string) (client.Object, string, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	cn := &v1beta1.Canary{}
	err := c.cl.Get(ctx, key, cn)
	if err == nil {
		return cn, "canaries.serin.dev", nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, "", access(err, "get", "canaries.serin.dev", ns)
	}
	fc := &flaggerv1beta1.Canary{}
	ferr := c.cl.Get(ctx, key, fc)
	switch {
	case ferr == nil:
		return fc, "canaries.flagger.app", nil
	case apierrors.IsNotFound(ferr) || meta.IsNoMatchError(ferr):
		return nil, "", fmt.Errorf("canary %s/%s: %w", ns, name, errors.Join(local.ErrNotFound, err))
	default:
		return nil, "", access(ferr, "get", "canaries.flagger.app", ns)
	}
}

// SetImage sets the image of a container of a Deployment or, with Kind
// DaemonSet, a DaemonSet, as kubectl set image does.
func (c *Client) SetImage(ctx context.Context, r local.SetImageRequest) error {
	var (
		obj      client.Object
		template func() *corev1.PodTemplateSpec
		resource = "deployments.apps"
		kind     = "deployment"
	)
	switch r.Kind {
	case "", "Deployment":
		d := &appsv1.Deployment{}
		obj, template = d, func() *corev1.PodTemplateSpec { return &d.Spec.Template }
	case "DaemonSet":
		d := &appsv1.DaemonSet{}
		obj, template = d, func() *corev1.PodTemplateSpec { return &d.Spec.Template }
		resource, kind = "daemonsets.apps", "daemonset"
	default:
		return fmt.Errorf("set image: want a Deployment or a DaemonSet, got a %s", r.Kind)
	}
	if err := c.cl.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, obj); err != nil {
		return access(err, "get", resource, r.Namespace)
	}
	orig := obj.DeepCopyObject().(client.Object)
	found := false
	containers := template().Spec.Containers
	for i := range containers {
		if containers[i].Name == r.Container {
			containers[i].Image, found = r.Image, true
		}
	}
	if !found {
		return fmt.Errorf("%s %s/%s has no container %q", kind, r.Namespace, r.Name, r.Container)
	}
	// A strategic merge patch of the one container's image, as kubectl
	// set image sends: it merges with what changed meanwhile (the
	// controller scaling the Deployment), so it needs no precondition.
	err := c.cl.Patch(ctx, obj, client.StrategicMergeFrom(orig))
	return access(err, "patch", resource, r.Namespace)
}
