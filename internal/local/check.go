package local

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/serinhq/serin/api/v1beta1"
	wlocal "github.com/serinhq/serin/internal/workload/local"
)

// refusal is one thing the runtime will not take about an object being
// applied: which one (its index among the objects applied), the field
// and why.
type refusal struct {
	index   int
	field   string
	message string
}

// locate names where the object at index i was written ("app.yaml:12"),
// or "" when that is not known.
type locate func(i int) string

// plan applies objs to a copy of o and checks the result as a whole, as
// the runtime would hold it. It returns the copy, one line per object as
// kubectl apply prints them, and every refusal, each on the object being
// applied that it concerns; o is not changed. Both serin validate --local
// (through Check, over an empty runtime) and every Apply go through it,
// so that what one accepts the other runs.
func (o *objects) plan(objs []any, where locate) (*objects, []string, []refusal) {
	next := o.clone()
	var (
		rs     []refusal
		out    []string
		origin = map[string]int{} // kind/namespace/name of each object applied -> its index
	)
	for i, obj := range objs {
		if ns, ok := obj.(*corev1.Namespace); ok {
			out = append(out, "namespace/"+ns.Name+" unchanged")
			continue
		}
		kind, ns, name := KindOf(obj)
		if kind == "" {
			rs = append(rs, refusal{i, "kind", unsupportedKind(obj)})
			continue
		}
		if ns == "" {
			ns = defaultNamespace
		}
		k := objectKey(kind, ns, name)
		if j, dup := origin[k]; dup {
			rs = append(rs, refusal{i, "metadata.name", fmt.Sprintf("%s %s/%s is written twice (also %s); the last one would replace the first: rename or remove one",
				kind, ns, name, describeAt(where, j))})
			continue
		}
		origin[k] = i
		if ps := objectProblems(i, obj); len(ps) > 0 {
			rs = append(rs, ps...)
			continue
		}
		sum := appliedSum(obj)
		if next.applied[k] == sum && next.exists(kind, ns, name) {
			// The content last applied, again: the live object, and a
			// release under way, stay as they are.
			out = append(out, fmt.Sprintf("%s/%s unchanged", kind, name))
			continue
		}
		_, _, changed, err := next.applyObject(obj)
		if err != nil {
			rs = append(rs, refusal{i, "", err.Error()})
			continue
		}
		next.applied[k] = sum
		verb := "unchanged"
		if changed {
			verb = "configured"
		}
		out = append(out, fmt.Sprintf("%s/%s %s", kind, name, verb))
	}
	rs = append(rs, next.conflicts(origin, where)...)
	rs = append(rs, next.unresolved(objs)...)
	slices.SortStableFunc(rs, func(a, b refusal) int { return cmp.Compare(a.index, b.index) })
	return next, out, rs
}

// objectProblems are what the runtime refuses in one object alone.
func objectProblems(i int, obj any) []refusal {
	var rs []refusal
	switch v := obj.(type) {
	case *corev1.Service:
		if len(v.Spec.Ports) == 0 {
			rs = append(rs, refusal{i, "spec.ports", "must name at least one port: each port is a listener on 127.0.0.1"})
		}
		seen := map[int32]int{}
		for j, p := range v.Spec.Ports {
			field := fmt.Sprintf("spec.ports[%d].port", j)
			if p.Port < 1 || p.Port > 65535 {
				rs = append(rs, refusal{i, field, fmt.Sprintf("must be between 1 and 65535, got %d", p.Port)})
				continue
			}
			if first, dup := seen[p.Port]; dup {
				rs = append(rs, refusal{i, field, fmt.Sprintf("port %d is also spec.ports[%d].port", p.Port, first)})
				continue
			}
			seen[p.Port] = j
		}
	case *appsv1.Deployment:
		for j, c := range v.Spec.Template.Spec.Containers {
			at := fmt.Sprintf("spec.template.spec.containers[%d]", j)
			if _, err := localContainer(c); err != nil {
				rs = append(rs, refusal{i, at + "." + containerWordsField(c), err.Error()})
			}
			if len(c.EnvFrom) > 0 {
				rs = append(rs, refusal{i, at + ".envFrom", "not supported by the local runtime, which runs no ConfigMaps or Secrets: write the variables in env"})
			}
			for k, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if _, err := fieldValue(e.ValueFrom, PodEnv{}); err != nil {
					msg := err.Error()
					if e.ValueFrom.FieldRef == nil {
						msg += ": no ConfigMaps or Secrets run locally, write the value"
					}
					rs = append(rs, refusal{i, fmt.Sprintf("%s.env[%d]", at, k), msg})
				}
			}
		}
	}
	return rs
}

// holder is an object of the planned set that a conflict is about.
type holder struct {
	index int    // among the objects applied; -1 for one the runtime already holds
	field string // the field to blame
	desc  string // "service test/podinfo (app.yaml:12)"
}

// conflicts are the refusals that come from objects taken together: two
// listeners on one port (the apex Service a Canary makes included), two
// Canaries on one Deployment, and a Deployment or Service with a name a
// Canary makes for itself. Each is blamed on the later object applied; a
// conflict between two objects the runtime already holds is not this
// apply's to refuse.
func (o *objects) conflicts(origin map[string]int, where locate) []refusal {
	at := func(k string) int {
		if i, ok := origin[k]; ok {
			return i
		}
		return -1
	}
	mk := func(index int, field, what string) holder {
		if index >= 0 {
			return holder{index, field, what + " (" + describeAt(where, index) + ")"}
		}
		return holder{index, field, what + " (applied earlier)"}
	}
	var rs []refusal
	blame := func(first, second holder, format string, args ...any) {
		h, other := second, first
		if first.index > second.index {
			h, other = first, second
		}
		if h.index < 0 {
			return
		}
		rs = append(rs, refusal{h.index, h.field, fmt.Sprintf(format, append([]any{other.desc}, args...)...)})
	}

	listeners := map[int32]holder{}
	for _, sk := range slices.Sorted(maps.Keys(o.services)) {
		s := o.services[sk]
		var h func(j int) holder
		if cn, made := s.Annotations[canaryAnnotation]; made {
			i := at(objectKey("canary", s.Namespace, cn))
			h = func(int) holder {
				return mk(i, "spec.service.port", fmt.Sprintf("service %s/%s, which canary %s makes", s.Namespace, s.Name, cn))
			}
		} else {
			i := at(objectKey("service", s.Namespace, s.Name))
			h = func(j int) holder {
				return mk(i, fmt.Sprintf("spec.ports[%d].port", j), fmt.Sprintf("service %s/%s", s.Namespace, s.Name))
			}
		}
		for j, p := range s.Spec.Ports {
			if !boundPort(p.Port) {
				continue // a free port is chosen for it
			}
			cur := h(j)
			if first, taken := listeners[p.Port]; taken && first.desc != cur.desc {
				blame(first, cur, "port %[2]d is also the port of %[1]s: each Service port is a listener on 127.0.0.1, so two cannot share one", p.Port)
				continue
			}
			listeners[p.Port] = cur
		}
	}

	targets := map[string]holder{}
	for _, ck := range slices.Sorted(maps.Keys(o.canaries)) {
		c := o.canaries[ck]
		i := at(objectKey("canary", c.Namespace, c.Name))
		cur := mk(i, "spec.targetRef.name", fmt.Sprintf("canary %s/%s", c.Namespace, c.Name))
		tk := key(c.Namespace, c.Spec.TargetRef.Name)
		if first, taken := targets[tk]; taken {
			blame(first, cur, "deployment %[2]s is also the target of %[1]s: one Deployment takes one Canary", tk)
		} else {
			targets[tk] = cur
		}
		// The names the Canary makes for itself.
		for _, made := range madeNames(c) {
			mk := key(c.Namespace, made.name)
			if made.kind == "deployment" {
				if d, exists := o.deployments[mk]; !exists || d.Annotations[canaryAnnotation] == c.Name || d.Annotations[handoverAnnotation] != "" {
					continue
				}
			} else if _, exists := o.services[mk]; !exists {
				continue
			}
			j := at(objectKey(made.kind, c.Namespace, made.name))
			switch {
			case j > i:
				rs = append(rs, refusal{j, "metadata.name", fmt.Sprintf("canary %s/%s (%s) makes a %s of this name for itself (%s): rename one",
					c.Namespace, c.Name, describeAt(where, i), made.kind, made.what)})
			case i >= 0:
				other := "applied earlier"
				if j >= 0 {
					other = describeAt(where, j)
				}
				rs = append(rs, refusal{i, made.field, fmt.Sprintf("%s %s (%s) has the name of %s, which this Canary makes for itself: rename one",
					made.kind, mk, other, made.what)})
			}
		}
	}
	return rs
}

// madeName is an object a Canary makes, and the Canary's field that names it.
type madeName struct{ kind, name, what, field string }

// madeNames are the objects a Canary makes beside its apex Service: its
// primary Deployment, and the primary and canary Services Flagger makes
// on Kubernetes, which serin's proxy serves locally on free ports, reached
// by their names (see madeRoutesLocked).
func madeNames(c *v1beta1.Canary) []madeName {
	svc, field := c.ServiceName(), "spec.targetRef.name"
	if c.Spec.Service.Name != "" {
		field = "spec.service.name"
	}
	return []madeName{
		{"deployment", wlocal.PrimaryName(c), "its primary", "spec.targetRef.name"},
		{"service", svc + "-primary", "the primary's Service", field},
		{"service", svc + "-canary", "the canary's Service", field},
	}
}

// describeAt is where the object at index i was written, or "in this
// apply" when that is not known.
func describeAt(where locate, i int) string {
	if where != nil {
		if s := where(i); s != "" {
			return "at " + s
		}
	}
	return "in this apply"
}

// unsupportedKind says that an object's kind does not run locally, naming
// its Kubernetes kind.
func unsupportedKind(obj any) string {
	kind := ""
	if ro, ok := obj.(runtime.Object); ok {
		kind = ro.GetObjectKind().GroupVersionKind().Kind
	}
	if t := reflect.TypeOf(obj); kind == "" && t != nil {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		kind = t.Name()
	}
	msg := fmt.Sprintf("%s is not supported by the local runtime, which runs Deployments, Services, Canaries, MetricTemplates and AlertProviders", kind)
	switch kind {
	case "ConfigMap", "Secret":
		msg += ": write the values in the Deployment's env"
	}
	return msg
}
