package render

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/serinhq/serin/api/v1beta1"
)

// DefaultInterval is a metric's interval when the Canary sets none.
const DefaultInterval = "1m"

// Vars are the values a query template may use.
type Vars struct {
	// Name and Namespace of the Canary.
	Name      string
	Namespace string
	// Target is the name of the released workload (spec.targetRef.name).
	Target string
	// Service is spec.service.name, or Target when unset.
	Service string
	// Ingress is spec.ingressRef.name, or Target when unset.
	Ingress string
	// Route is spec.routeRef.name (APISIX), or Target when unset.
	Route string
	// Interval is the metric's interval as written, e.g. "1m".
	Interval string
	// Variables are the metric's templateVariables.
	Variables map[string]string
}

// VarsFor returns the variables of metric m of Canary c, as Flagger sets
// them.
func VarsFor(c *v1beta1.Canary, m v1beta1.CanaryMetric) Vars {
	v := Vars{
		Name:      c.Name,
		Namespace: c.Namespace,
		Target:    c.Spec.TargetRef.Name,
		Service:   c.Spec.TargetRef.Name,
		Ingress:   c.Spec.TargetRef.Name,
		Route:     c.Spec.TargetRef.Name,
		Interval:  m.EffectiveInterval(),
		Variables: make(map[string]string, len(m.TemplateVariables)),
	}
	if c.Spec.Service.Name != "" {
		v.Service = c.Spec.Service.Name
	}
	if c.Spec.IngressRef != nil && c.Spec.IngressRef.Name != "" {
		v.Ingress = c.Spec.IngressRef.Name
	}
	if c.Spec.RouteRef != nil && c.Spec.RouteRef.Name != "" {
		v.Route = c.Spec.RouteRef.Name
	}
	if v.Interval == "" {
		v.Interval = DefaultInterval
	}
	for k, val := range m.TemplateVariables {
		v.Variables[k] = val
	}
	return v
}

func (v Vars) data() map[string]any {
	vars := v.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	return map[string]any{
		"name":      v.Name,
		"namespace": v.Namespace,
		"target":    v.Target,
		"service":   v.Service,
		"ingress":   v.Ingress,
		"route":     v.Route,
		"interval":  v.Interval,
		"variables": vars,
	}
}

func (v Vars) funcs() template.FuncMap {
	d := v.data()
	fm := make(template.FuncMap, len(d))
	for k, val := range d {
		fm[k] = func() any { return val }
	}
	return fm
}

// Query renders the template text named name (used in errors, e.g.
// "test/error-rate") with v. The template runs with missingkey=error, so
// an unknown variable fails instead of rendering as "<no value>".
func Query(name, text string, v Vars) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(v.funcs()).Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse query template %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, v.data()); err != nil {
		return "", fmt.Errorf("render query template %s: %w", name, err)
	}
	return b.String(), nil
}
