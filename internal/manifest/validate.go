package manifest

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/serinhq/serin/api/v1beta1"
)

// Validate checks every object of the set as written (before defaults) and
// returns a Problems error listing every problem with its file, line and
// field path, or nil. Canaries, MetricTemplates and AlertProviders are
// checked field by field; every object must have a name.
func (s *Set) Validate(opts v1beta1.ValidationOptions) error {
	var problems Problems
	for _, o := range s.Objects {
		var errs field.ErrorList
		switch obj := o.Object.(type) {
		case *v1beta1.Canary:
			errs = v1beta1.ValidateCanary(obj, opts)
		case *v1beta1.MetricTemplate:
			errs = v1beta1.ValidateMetricTemplate(obj, opts)
		case *v1beta1.AlertProvider:
			errs = v1beta1.ValidateAlertProvider(obj)
		}
		var ps Problems
		for _, e := range errs {
			if o.prunedPath(e.Field) {
				continue // reported while reading
			}
			ps = append(ps, Problem{File: o.Source.File, Line: o.Line(e.Field), Field: e.Field, Message: v1beta1.ErrorMessage(e)})
		}
		if m, err := meta.Accessor(o.Object); err == nil && m.GetName() == "" && !hasField(errs, "metadata.name") && !o.prunedPath("metadata.name") {
			ps = append(ps, Problem{File: o.Source.File, Line: o.Source.Line, Field: "metadata.name", Message: "required"})
		}
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		problems = append(problems, ps...)
	}
	return problems.orNil()
}

func hasField(errs field.ErrorList, path string) bool {
	for _, e := range errs {
		if e.Field == path {
			return true
		}
	}
	return false
}

// Warnings returns what the objects of the set ask for that serin accepts
// but that is likely not what was meant (v1beta1.CanaryWarnings), each a
// Problem with Warning set, in file and line order; nil when there are
// none. They are not errors: Validate does not return them.
func (s *Set) Warnings(opts v1beta1.ValidationOptions) Problems {
	var out Problems
	for _, o := range s.Objects {
		c, ok := o.Object.(*v1beta1.Canary)
		if !ok {
			continue
		}
		ws := v1beta1.CanaryWarnings(c, opts)
		// An unset threshold means the default, so only the manifest tells
		// a written 0 apart.
		if a := c.Spec.Analysis; a != nil && a.Threshold == 0 {
			if _, written := o.lines[normalizePath("spec.analysis.threshold")]; written {
				ws = append(ws, v1beta1.Warning{Field: "spec.analysis.threshold", Message: "0 reads as the default, 1 failed check, as in Flagger"})
			}
		}
		var ps Problems
		for _, w := range ws {
			if o.prunedPath(w.Field) {
				continue
			}
			ps = append(ps, Problem{Warning: true, File: o.Source.File, Line: o.Line(w.Field), Field: w.Field, Message: w.Message})
		}
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		out = append(out, ps...)
	}
	return out
}
