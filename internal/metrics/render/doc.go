// Package render turns a metric query template into the query a provider
// runs. Templates are Go text/templates with the variables of Flagger's
// MetricTemplates: name, namespace, target, service, ingress, route
// (spec.routeRef.name), interval and variables (the metric's
// templateVariables). Each can be written as a function call, Flagger's
// form ({{ namespace }}, {{ variables.direction }}), or as a field of the
// data ({{ .namespace }}). A missing variable is an
// error, never an empty string.
package render
