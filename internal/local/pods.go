package local

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/internal/rollout"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// syncPods starts and stops pods so that each Deployment runs its
// replicas of its current revision. A new revision's pods start beside the
// old ones, which stop once the new ones are ready (a surge rollout, so a
// Service never loses its last ready backend). It must be called with
// r.mu held.
func (r *Runtime) syncPods() {
	byDeploy := map[string][]*Pod{}
	for _, p := range r.pods {
		s := p.Spec()
		byDeploy[key(s.Namespace, s.Deployment)] = append(byDeploy[key(s.Namespace, s.Deployment)], p)
	}
	for k, d := range r.obj.deployments {
		rev := wlocal.Revision(&d.Spec.Template)
		want := int(*d.Spec.Replicas)
		var cur, old []*Pod
		readyCur := 0
		for _, p := range byDeploy[k] {
			st := p.Status()
			if st.Terminating {
				continue
			}
			if st.Revision == rev {
				cur = append(cur, p)
				if st.Ready {
					readyCur++
				}
			} else {
				old = append(old, p)
			}
		}
		for range want - len(cur) {
			r.startPod(d, rev)
		}
		if extra := len(cur) - want; extra > 0 {
			// Stop the pods that are not ready first.
			slices.SortFunc(cur, func(a, b *Pod) int {
				ra, rb := a.Status().Ready, b.Status().Ready
				switch {
				case ra == rb:
					return 0
				case !ra:
					return -1
				default:
					return 1
				}
			})
			for _, p := range cur[:extra] {
				r.stopPod(p)
			}
		}
		if readyCur >= want {
			for _, p := range old {
				r.stopPod(p)
			}
		}
	}
	for k, ps := range byDeploy {
		if _, ok := r.obj.deployments[k]; !ok {
			for _, p := range ps {
				r.stopPod(p)
			}
		}
	}
}

// startPod starts one pod of d. It must be called with r.mu held.
func (r *Runtime) startPod(d *appsv1.Deployment, rev string) {
	name := fmt.Sprintf("%s-%s-%s", d.Name, rev[:8], randSuffix(r.rand))
	port, err := freePort()
	if err != nil {
		r.recordLocked(Event{Type: "Warning", Reason: "FailedCreate", Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Message: err.Error()})
		return
	}
	grace := 5 * time.Second
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = min(grace, time.Duration(*g)*time.Second)
	}
	containers, err := localContainers(d.Spec.Template.Spec.Containers)
	if err != nil {
		r.recordLocked(Event{Type: "Warning", Reason: "FailedCreate", Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Message: err.Error()})
		return
	}
	spec := PodSpec{
		Name: name, Namespace: d.Namespace, Deployment: d.Name, Revision: rev,
		Labels: d.Spec.Template.Labels, Port: port,
		Containers:  containers,
		Services:    r.serviceEnvLocked(d.Namespace),
		Names:       NamesPath(r.opts.StateDir),
		GracePeriod: grace,
	}
	r.pods[key(d.Namespace, name)] = r.sup.Start(r.ctx, spec)
	r.recordLocked(Event{Type: "Normal", Reason: "SuccessfulCreate", Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Message: "Created pod: " + name})
}

// stopPod stops a pod in the background and forgets it once its processes
// ended. It must be called with r.mu held.
func (r *Runtime) stopPod(p *Pod) {
	s := p.Spec()
	r.recordLocked(Event{Type: "Normal", Reason: "Killing", Kind: "Pod", Namespace: s.Namespace, Name: s.Name, Message: "Stopping pod " + s.Name})
	r.stopping.Go(func() {
		p.Stop()
		r.mu.Lock()
		delete(r.pods, key(s.Namespace, s.Name))
		r.mu.Unlock()
		r.kickSync()
	})
}

// serviceEnvLocked is the NAME_SERVICE_HOST/PORT environment of a
// namespace's Services, those Canaries make included.
func (r *Runtime) serviceEnvLocked(ns string) []corev1.EnvVar {
	var env []corev1.EnvVar
	for _, k := range sortedKeys(r.obj.services) {
		s := r.obj.services[k]
		if s.Namespace != ns || len(s.Spec.Ports) == 0 {
			continue
		}
		env = append(env, ServiceEnv(s.Name, r.serviceListenPort(s, s.Name, false))...)
		if r.obj.canaryOfService(s.Namespace, s.Name) != nil {
			// The Services the Canary makes, as Flagger's on Kubernetes.
			for _, made := range []string{s.Name + "-primary", s.Name + "-canary"} {
				env = append(env, ServiceEnv(made, r.serviceListenPort(s, made, true))...)
			}
		}
	}
	return env
}

// readinessLocked is the readiness of a Deployment's pods.
func (r *Runtime) readinessLocked(ns, name string) rollout.Readiness {
	d, ok := r.obj.deployments[key(ns, name)]
	if !ok {
		return rollout.Readiness{}
	}
	rev := wlocal.Revision(&d.Spec.Template)
	rd := rollout.Readiness{Desired: *d.Spec.Replicas}
	for _, p := range r.pods {
		st := p.Status()
		if st.Namespace != ns || st.Deployment != name || st.Terminating || st.Revision != rev {
			continue
		}
		rd.Updated++
		if st.Ready {
			rd.Ready++
		} else if rd.Reason == "" {
			rd.Reason = st.Reason
		}
	}
	return rd
}

// endpointsLocked are the addresses of a Deployment's ready pods.
func (r *Runtime) endpointsLocked(ns, name string) []string {
	var eps []string
	for _, p := range r.pods {
		st := p.Status()
		if st.Namespace == ns && st.Deployment == name && st.Ready {
			eps = append(eps, fmt.Sprintf("127.0.0.1:%d", st.Port))
		}
	}
	slices.Sort(eps)
	return eps
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randSuffix(rng *rand.Rand) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b strings.Builder
	for range 5 {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
