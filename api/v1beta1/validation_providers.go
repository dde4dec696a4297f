package v1beta1

import (
	"slices"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// metricProviderTypes lists the values of a MetricTemplate's
// spec.provider.type: serin's own, Prometheus, and Flagger's other
// providers, which load but are not queried yet.
func metricProviderTypes() []string {
	return []string{
		"prometheus", "serin", "datadog", "cloudwatch", "newrelic", "graphite",
		"dynatrace", "influxdb", "stackdriver", "keptn", "splunk",
	}
}

// alertProviderTypes lists the values of an AlertProvider's spec.type.
func alertProviderTypes() []string {
	return []string{"slack", "msteams", "discord", "rocket", "gchat", "webhook"}
}

// ValidateMetricTemplate returns every problem of t, each with its field
// path. The query must parse as a Go text/template over the variables a
// query may use (name, namespace, target, service, ingress, interval,
// variables).
func ValidateMetricTemplate(t *MetricTemplate) field.ErrorList {
	errs := validateObjectMeta(t.Name, t.Namespace, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	pp := spec.Child("provider")
	pr := &t.Spec.Provider
	switch types := metricProviderTypes(); {
	case pr.Type == "":
		errs = append(errs, field.Required(pp.Child("type"), ""))
	case !slices.Contains(types, pr.Type):
		errs = append(errs, field.NotSupported(pp.Child("type"), pr.Type, types))
	}
	if pr.Address != "" {
		errs = append(errs, validateURL(pr.Address, pp.Child("address"))...)
	}
	if pr.SecretRef != nil && pr.SecretRef.Name == "" {
		errs = append(errs, field.Required(pp.Child("secretRef", "name"), ""))
	}
	if t.Spec.Query == "" {
		errs = append(errs, field.Required(spec.Child("query"), ""))
	} else if _, err := template.New(t.Name).Funcs(queryFuncs()).Parse(t.Spec.Query); err != nil {
		errs = append(errs, field.Invalid(spec.Child("query"), "", "must be a valid template: "+err.Error()))
	}
	return errs
}

// queryFuncs declares the functions a query template may call, for
// parsing only.
func queryFuncs() template.FuncMap {
	fm := template.FuncMap{}
	for _, name := range []string{"name", "namespace", "target", "service", "ingress", "interval"} {
		fm[name] = func() string { return "" }
	}
	fm["variables"] = func() map[string]string { return nil }
	return fm
}

// ValidateAlertProvider returns every problem of p, each with its field
// path.
func ValidateAlertProvider(p *AlertProvider) field.ErrorList {
	errs := validateObjectMeta(p.Name, p.Namespace, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	s := &p.Spec
	switch types := alertProviderTypes(); {
	case s.Type == "":
		errs = append(errs, field.Required(spec.Child("type"), ""))
	case !slices.Contains(types, s.Type):
		errs = append(errs, field.NotSupported(spec.Child("type"), s.Type, types))
	}
	switch {
	case s.Address != "":
		errs = append(errs, validateURL(s.Address, spec.Child("address"))...)
	case s.SecretRef == nil:
		errs = append(errs, field.Required(spec.Child("address"), "required unless secretRef is set"))
	}
	if s.SecretRef != nil && s.SecretRef.Name == "" {
		errs = append(errs, field.Required(spec.Child("secretRef", "name"), ""))
	}
	if s.Proxy != "" {
		errs = append(errs, validateURL(s.Proxy, spec.Child("proxy"))...)
	}
	return errs
}
