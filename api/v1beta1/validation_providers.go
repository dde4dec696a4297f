package v1beta1

import (
	"slices"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MetricProviderTypes lists the values of a MetricTemplate's
// spec.provider.type: Prometheus and Flagger's other providers, the ones
// the metric resolver runs. Flagger's types that are not listed
// (skywalking, for one) are refused.
func MetricProviderTypes() []string {
	return []string{
		"prometheus", "datadog", "cloudwatch", "newrelic", "graphite",
		"dynatrace", "influxdb", "stackdriver", "keptn", "splunk", "externalmetrics",
	}
}

// providerNeeds says which fields of spec.provider a type cannot run
// without, as the providers check them when they are built.
type providerNeeds struct {
	address, secretRef, region bool
	// cluster: the provider reads objects of the Kubernetes cluster the
	// controller runs on (without an address, for externalmetrics).
	cluster bool
}

func metricProviderNeeds(typ string) providerNeeds {
	switch typ {
	case "graphite", "influxdb":
		return providerNeeds{address: true}
	case "dynatrace", "splunk":
		return providerNeeds{address: true, secretRef: true}
	case "datadog", "newrelic", "stackdriver":
		return providerNeeds{secretRef: true}
	case "cloudwatch":
		return providerNeeds{region: true}
	case "keptn", "externalmetrics":
		return providerNeeds{cluster: true}
	}
	return providerNeeds{}
}

// alertProviderTypes lists the values of an AlertProvider's spec.type.
func alertProviderTypes() []string {
	return []string{"slack", "msteams", "discord", "rocket", "gchat", "webhook"}
}

// ValidateMetricTemplate returns every problem of t, each with its field
// path. The query must parse as a Go text/template over the variables a
// query may use (name, namespace, target, service, ingress, route,
// interval, variables). The fields a provider type cannot run without are
// required; the types that read a cluster's objects, and secretRef, are
// refused when opts.NoCluster is set.
func ValidateMetricTemplate(t *MetricTemplate, opts ValidationOptions) field.ErrorList {
	errs := validateObjectMeta(t.Name, t.Namespace, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	pp := spec.Child("provider")
	pr := &t.Spec.Provider
	switch types := MetricProviderTypes(); {
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
	need := metricProviderNeeds(pr.Type)
	if need.address && pr.Address == "" {
		errs = append(errs, field.Required(pp.Child("address"), "required for provider type "+pr.Type))
	}
	if need.secretRef && pr.SecretRef == nil {
		errs = append(errs, field.Required(pp.Child("secretRef"), "required for provider type "+pr.Type+": a Secret with its credentials"))
	}
	if need.region && pr.Region == "" {
		errs = append(errs, field.Required(pp.Child("region"), "required for provider type "+pr.Type))
	}
	if need.cluster && opts.NoCluster && (pr.Type == "keptn" || pr.Address == "") {
		errs = append(errs, field.Invalid(pp.Child("type"), pr.Type, "reads objects of a Kubernetes cluster: runs only under serin controller"))
	}
	if opts.NoCluster && pr.SecretRef != nil && pr.SecretRef.Name != "" {
		errs = append(errs, field.Invalid(pp.Child("secretRef", "name"), pr.SecretRef.Name, "the local runtime reads no Secrets: a template with a secretRef runs only under serin controller"))
	}
	if pr.Type == "keptn" && t.Spec.Query != "" {
		kind, _, _ := strings.Cut(strings.TrimSpace(t.Spec.Query), "/")
		if k := strings.ToLower(kind); k != "keptnmetric" && k != "keptnmetrics" && k != "analysis" && k != "analyses" {
			errs = append(errs, field.Invalid(spec.Child("query"), kind, "a keptn query is keptnmetric/<namespace>/<name> or analysis/<namespace>/<AnalysisDefinition>[/<timeframe>[/<arg>=<value>;...]]"))
		}
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
	for _, name := range []string{"name", "namespace", "target", "service", "ingress", "route", "interval"} {
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
