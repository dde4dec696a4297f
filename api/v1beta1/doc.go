// Package v1beta1 holds serin's API: the Canary, MetricTemplate and
// AlertProvider kinds of the serin.dev/v1beta1 group.
//
// The kinds carry every field of Flagger's flagger.app/v1beta1 versions with
// the same meaning and defaults, so a Flagger user's manifests work as they
// are; serin's own extensions (the statistical judge, the local runtime's
// options) are optional fields that Flagger manifests never set.
//
// Use ValidateCanary (ValidateMetricTemplate, ValidateAlertProvider) to check
// an object as written and Default to fill in its defaults; accessors such
// as (*CanaryAnalysis).IntervalDuration and (*Canary).Strategy read the
// effective values without modifying anything. All of them are pure. AddToScheme registers the kinds with a runtime.Scheme explicitly:
// nothing is registered from init.
//
// +kubebuilder:object:generate=true
// +groupName=serin.dev
package v1beta1
