// Package v1beta1 holds Flagger's API group, flagger.app/v1beta1, as serin's
// controller reconciles it: Canary, MetricTemplate and AlertProvider are
// serin's kinds (github.com/serinhq/serin/api/v1beta1) under Flagger's group
// name, so that Flagger's objects are served as they are.
//
// Each kind is a named type of serin's, with the same fields: a pointer
// converts to serin's type and back without copying ((*v1beta1.Canary)(c)),
// and one engine runs both groups. They are distinct Go types so that a
// scheme maps each Go type to one GroupVersionKind, as controller-runtime's
// client needs.
//
// +kubebuilder:object:generate=true
// +groupName=flagger.app
package v1beta1
