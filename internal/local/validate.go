package local

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/manifest"
)

// localValidation is how the manifests are validated for the local
// runtime: its shorter minimum interval, and no metric providers that read
// a cluster.
func localValidation() v1beta1.ValidationOptions {
	return v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal, NoCluster: true}
}

// Validate is serin validate --local: the manifest checks of every field
// (with the local runtime's shorter minimum interval) and Check, as one
// manifest.Problems in file and line order, or nil. serin run and serin
// apply call it before they apply anything.
func Validate(set *manifest.Set) error {
	var problems manifest.Problems
	for _, err := range []error{set.Validate(localValidation()), Check(set)} {
		var ps manifest.Problems
		if errors.As(err, &ps) {
			problems = append(problems, ps...)
		} else if err != nil {
			return err
		}
	}
	if len(problems) == 0 {
		return nil
	}
	order := make(map[string]int, len(set.Files))
	for i, f := range set.Files {
		order[f] = i + 1
	}
	slices.SortStableFunc(problems, func(a, b manifest.Problem) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line))
	})
	return problems
}

// Check returns, as manifest.Problems with file and line, everything the
// local runtime refuses in the set taken alone: kinds it does not run
// (named by their Kubernetes kind), env taken from ConfigMaps or Secrets,
// Services without ports or with a port twice, two Services on one port
// from 1024 up (the apex Service a Canary makes included), an object
// written twice, two Canaries on one Deployment, a Deployment or Service
// named as one a Canary makes for itself, Flagger's loadtester with flags
// serin's has no counterpart of, and a URL (a webhook's, one in its
// command, a provider's) whose Kubernetes Service name resolves to no
// local Service or port. It is the check every Apply makes, over
// an empty runtime; nil when there is nothing to refuse.
func Check(set *manifest.Set) error {
	objs := setObjects(set)
	_, _, rs := newObjects(&State{}).plan(objs, sourceOf(set))
	return problemsOf(set, rs)
}

// ApplyManifests is Apply for objects read from manifests, validated
// first as serin validate --local validates them: what it refuses, with
// what the runtime already holds, is reported as manifest.Problems with
// the file and line of each object.
func (r *Runtime) ApplyManifests(set *manifest.Set) ([]string, error) {
	if err := set.Validate(localValidation()); err != nil {
		return nil, err
	}
	out, rs, err := r.apply(setObjects(set), sourceOf(set))
	if len(rs) > 0 {
		return nil, problemsOf(set, rs)
	}
	return out, err
}

func setObjects(set *manifest.Set) []any {
	objs := make([]any, len(set.Objects))
	for i, o := range set.Objects {
		objs[i] = o.Object
	}
	return objs
}

func sourceOf(set *manifest.Set) locate {
	return func(i int) string { return set.Objects[i].Source.String() }
}

func problemsOf(set *manifest.Set, rs []refusal) error {
	if len(rs) == 0 {
		return nil
	}
	type numbered struct {
		index int
		p     manifest.Problem
	}
	ns := make([]numbered, len(rs))
	for i, r := range rs {
		o := set.Objects[r.index]
		ns[i] = numbered{r.index, manifest.Problem{File: o.Source.File, Line: o.Line(r.field), Field: r.field, Message: r.message}}
	}
	// In object order, each object's problems by line.
	slices.SortStableFunc(ns, func(a, b numbered) int { return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.p.Line, b.p.Line)) })
	ps := make(manifest.Problems, len(ns))
	for i, n := range ns {
		ps[i] = n.p
	}
	return ps
}

// refusedError lists the refusals of an Apply without manifests, one line
// per refusal naming the object.
func refusedError(objs []any, rs []refusal) error {
	lines := make([]string, len(rs))
	for i, r := range rs {
		var b strings.Builder
		if kind, ns, name := KindOf(objs[r.index]); kind != "" {
			if ns == "" {
				ns = defaultNamespace
			}
			fmt.Fprintf(&b, "%s %s/%s: ", kind, ns, name)
		}
		if r.field != "" {
			b.WriteString(r.field + ": ")
		}
		b.WriteString(r.message)
		lines[i] = b.String()
	}
	return errors.New(strings.Join(lines, "\n"))
}
