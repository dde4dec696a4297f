package local

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// ErrNotFound is returned for an object that does not exist.
var ErrNotFound = errors.New("not found")

// Apply creates or updates objects (*appsv1.Deployment, *corev1.Service,
// *v1beta1.Canary, *v1beta1.MetricTemplate, *v1beta1.AlertProvider;
// *corev1.Namespace is accepted and ignored) and returns one line per
// object, as kubectl apply prints them. It applies all of them or none:
// the whole set, with what the runtime already holds, is checked first
// (see Check), and a refused apply changes nothing, in memory or in the
// state directory. An object whose content is the one it was last
// applied with is left as it is, with whatever changed it since (serin
// set image, a release under way).
func (r *Runtime) Apply(objs ...any) ([]string, error) {
	var rs []refusal
	for i, o := range objs {
		if c, ok := o.(*v1beta1.Canary); ok {
			for _, e := range v1beta1.ValidateCanary(c, localValidation()) {
				rs = append(rs, refusal{i, e.Field, v1beta1.ErrorMessage(e)})
			}
		}
	}
	if len(rs) > 0 {
		return nil, refusedError(objs, rs)
	}
	out, rs, err := r.apply(objs, nil)
	if len(rs) > 0 {
		return nil, refusedError(objs, rs)
	}
	return out, err
}

// apply is Apply, with where naming where each object was written.
func (r *Runtime) apply(objs []any, where locate) ([]string, []refusal, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, out, rs := r.obj.plan(objs, where)
	if len(rs) > 0 {
		return nil, rs, nil
	}
	if err := r.portsFreeLocked(next); err != nil {
		return nil, nil, err
	}
	r.obj = next
	r.saveLocked()
	r.kickSync()
	r.due = map[string]time.Time{}
	r.wakeCanaries()
	return out, nil, nil
}

// portsFreeLocked checks that the ports next listens on that the proxy
// does not listen on yet are free, so that an apply a listener could not
// take is refused before it is saved.
func (r *Runtime) portsFreeLocked(next *objects) error {
	open := map[int32]bool{}
	if r.plane != nil {
		for _, rt := range r.routesLocked() {
			open[rt.Port] = true
		}
	}
	for _, sk := range slices.Sorted(maps.Keys(next.services)) {
		s := next.services[sk]
		for _, p := range s.Spec.Ports {
			if open[p.Port] || !boundPort(p.Port) {
				continue
			}
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port))
			if err != nil {
				return &PortInUseError{Namespace: s.Namespace, Service: s.Name, Port: p.Port, Err: err}
			}
			_ = l.Close()
		}
	}
	return nil
}

// Delete removes objects. A Canary takes what serin made for it along (see
// deleteCanaryLocked); with spec.revertOnDeletion it is dropped only once
// its target is restored.
func (r *Runtime) Delete(objs ...any) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	var errs []error
	for _, o := range objs {
		kind, ns, name := KindOf(o)
		if kind == "" {
			continue
		}
		if ns == "" {
			ns = defaultNamespace
		}
		if kind == "canary" {
			line, ok := r.deleteCanaryLocked(ns, name)
			if !ok {
				errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind, ns, name, ErrNotFound))
				continue
			}
			out = append(out, line)
			continue
		}
		if !r.obj.deleteObject(kind, ns, name) {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind, ns, name, ErrNotFound))
			continue
		}
		out = append(out, fmt.Sprintf("%s/%s deleted", kind, name))
	}
	r.saveLocked()
	r.kickSync()
	return out, errors.Join(errs...)
}

// SetImage sets the image of one container of a Deployment, as kubectl set
// image; a changed pod template starts a release when a Canary targets it.
func (r *Runtime) SetImage(ns, name, container, image string) error {
	return r.updateTemplate(ns, name, func(spec *corev1.PodSpec) error {
		for i := range spec.Containers {
			if spec.Containers[i].Name == container || container == "*" {
				spec.Containers[i].Image = image
				return nil
			}
		}
		return fmt.Errorf("deployment %s/%s: container %q: %w", ns, name, container, ErrNotFound)
	})
}

// SetEnv sets environment variables on every container of a Deployment,
// as kubectl set env; an empty value removes the variable.
func (r *Runtime) SetEnv(ns, name string, env map[string]string) error {
	return r.updateTemplate(ns, name, func(spec *corev1.PodSpec) error {
		for i := range spec.Containers {
			c := &spec.Containers[i]
			for _, k := range sortedKeys(env) {
				j := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == k })
				switch {
				case env[k] == "" && j >= 0:
					c.Env = slices.Delete(c.Env, j, j+1)
				case env[k] == "":
				case j >= 0:
					c.Env[j] = corev1.EnvVar{Name: k, Value: env[k]}
				default:
					c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: env[k]})
				}
			}
		}
		return nil
	})
}

// UpdateDeployment changes the pod template of a Deployment with f.
func (r *Runtime) UpdateDeployment(ns, name string, f func(*corev1.PodSpec) error) error {
	return r.updateTemplate(ns, name, f)
}

func (r *Runtime) updateTemplate(ns, name string, f func(*corev1.PodSpec) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.obj.deployments[key(ns, name)]
	if !ok {
		return fmt.Errorf("deployment %s/%s: %w", ns, name, ErrNotFound)
	}
	nd := d.DeepCopy()
	if err := f(&nd.Spec.Template.Spec); err != nil {
		return err
	}
	if wlocal.Revision(&nd.Spec.Template) == wlocal.Revision(&d.Spec.Template) {
		return nil
	}
	nd.Generation++
	r.obj.deployments[key(ns, name)] = nd
	r.saveLocked()
	r.kickSync()
	r.due = map[string]time.Time{}
	r.wakeCanaries()
	return nil
}

// Snapshot is the runtime's objects and pods at one moment.
type Snapshot struct {
	Deployments []DeploymentView `json:"deployments"`
	Services    []ServiceView    `json:"services"`
	Canaries    []v1beta1.Canary `json:"canaries"`
	Pods        []PodStatus      `json:"pods"`
}

// DeploymentView is a Deployment with the state of its pods.
type DeploymentView struct {
	Deployment appsv1.Deployment `json:"deployment"`
	Revision   string            `json:"revision"`
	Ready      int32             `json:"ready"`
	UpToDate   int32             `json:"upToDate"`
	// Reason says why pods are not ready.
	Reason string `json:"reason,omitempty"`
}

// ServiceView is a Service with its listeners and backends.
type ServiceView struct {
	Service corev1.Service `json:"service"`
	// Addresses the Service listens on.
	Addresses []string `json:"addresses"`
	// Backends and their weights now.
	Backends []Backend `json:"backends"`
	// Canary that splits the Service, if any.
	Canary string `json:"canary,omitempty"`
}

// Snapshot returns the objects and pods.
func (r *Runtime) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s Snapshot
	for _, k := range sortedKeys(r.obj.deployments) {
		d := r.obj.deployments[k]
		rd := r.readinessLocked(d.Namespace, d.Name)
		s.Deployments = append(s.Deployments, DeploymentView{
			Deployment: *d.DeepCopy(), Revision: wlocal.Revision(&d.Spec.Template),
			Ready: rd.Ready, UpToDate: rd.Updated, Reason: rd.Reason,
		})
	}
	routes := r.routesLocked()
	for _, k := range sortedKeys(r.obj.services) {
		sv := r.obj.services[k]
		v := ServiceView{Service: *sv.DeepCopy()}
		for _, rt := range routes {
			if rt.Namespace != sv.Namespace || rt.Service != sv.Name {
				continue
			}
			v.Addresses = append(v.Addresses, rt.Addr)
			if v.Backends == nil {
				v.Backends = rt.Backends
				if rt.Canary != nil {
					v.Backends = []Backend{rt.Canary.Primary, rt.Canary.Target}
					v.Canary = rt.Canary.Canary.Name
				}
			}
		}
		s.Services = append(s.Services, v)
	}
	s.Services = append(s.Services, madeServiceViews(routes)...)
	slices.SortStableFunc(s.Services, func(a, b ServiceView) int {
		return cmp.Or(cmp.Compare(a.Service.Namespace, b.Service.Namespace), cmp.Compare(a.Service.Name, b.Service.Name))
	})
	for _, k := range sortedKeys(r.obj.canaries) {
		s.Canaries = append(s.Canaries, *r.obj.canaries[k].DeepCopy())
	}
	for _, k := range sortedKeys(r.pods) {
		s.Pods = append(s.Pods, r.pods[k].Status())
	}
	return s
}

// Events returns the events after seq, and a channel closed when another
// one arrives.
func (r *Runtime) Events(seq int64) ([]Event, <-chan struct{}) { return r.events.since(seq) }

// LogFiles returns the log files of a Deployment's pods, oldest first.
func (r *Runtime) LogFiles(ns, deployment string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var files []string
	for _, k := range sortedKeys(r.pods) {
		s := r.pods[k].Spec()
		if s.Namespace != ns || s.Deployment != deployment {
			continue
		}
		for _, c := range s.Containers {
			files = append(files, LogPath(LogDir(r.opts.StateDir), ns, s.Name, c.Name))
		}
	}
	return files
}

// splitKind splits "deploy/podinfo" into a normalised kind and a name.
func splitKind(s string) (kind, name string) {
	k, n, ok := strings.Cut(s, "/")
	if !ok {
		return "", s
	}
	return NormalizeKind(k), n
}

// NormalizeKind maps kubectl's kind names and abbreviations to serin's
// lower-case kinds.
func NormalizeKind(k string) string {
	switch strings.ToLower(k) {
	case "deploy", "deployment", "deployments", "deployment.apps":
		return "deployment"
	case "ds", "daemonset", "daemonsets", "daemonset.apps":
		return "daemonset"
	case "svc", "service", "services":
		return "service"
	case "canary", "canaries", "cn", "canary.serin.dev", "canary.flagger.app":
		return "canary"
	case "pod", "pods", "po":
		return "pod"
	case "metrictemplate", "metrictemplates", "mt":
		return "metrictemplate"
	case "alertprovider", "alertproviders":
		return "alertprovider"
	}
	return strings.ToLower(k)
}

// madeServiceViews are the <service>-primary and <service>-canary Services
// the Canaries make, as Flagger makes them on Kubernetes: not objects of
// the runtime, but listeners reached by their names.
func madeServiceViews(routes []Route) []ServiceView {
	var out []ServiceView
	idx := map[string]int{}
	for _, rt := range routes {
		if rt.Made == "" {
			continue
		}
		k := key(rt.Namespace, rt.Service)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, ServiceView{
				Service: corev1.Service{
					TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
					ObjectMeta: metav1.ObjectMeta{Name: rt.Service, Namespace: rt.Namespace,
						Annotations: map[string]string{canaryAnnotation: rt.Made}},
				},
				Backends: rt.Backends, Canary: rt.Made,
			})
		}
		out[i].Service.Spec.Ports = append(out[i].Service.Spec.Ports, corev1.ServicePort{Port: rt.Port})
		out[i].Addresses = append(out[i].Addresses, rt.Addr)
	}
	return out
}
