package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MetricTemplate is a query that computes a metric for a Canary's analysis.
// The query is a Go text/template with the variables name, namespace,
// target, service, ingress, route, interval and variables, as Flagger's.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
type MetricTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MetricTemplateSpec `json:"spec"`
	// Status is read for compatibility with Flagger's objects.
	// +optional
	Status ProviderStatus `json:"status,omitempty"`
}

// MetricTemplateList is a list of MetricTemplates.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// MetricTemplateSpec is a metric's provider and query.
type MetricTemplateSpec struct {
	Provider MetricTemplateProvider `json:"provider"`
	// Query in the provider's language.
	// +optional
	Query string `json:"query,omitempty"`
}

// MetricTemplateProvider is where a template's query runs.
type MetricTemplateProvider struct {
	// Type of the provider: "prometheus", or one of Flagger's graphite,
	// influxdb (Flux), datadog, newrelic, cloudwatch, stackdriver,
	// dynatrace, splunk, keptn and externalmetrics. The built-in metrics
	// (request-success-rate, request-duration) need no template.
	Type string `json:"type"`
	// Address of the provider's API.
	// +optional
	Address string `json:"address,omitempty"`
	// SecretRef names a Secret with credentials, under the key names
	// Flagger uses for the provider type.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
	// Headers sent with every query of the HTTP providers.
	// +optional
	Headers map[string][]string `json:"headers,omitempty"`
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Region, for cloud providers.
	// +optional
	Region string `json:"region,omitempty"`
}

// LocalSecretReference names a Secret in the object's namespace.
type LocalSecretReference struct {
	Name string `json:"name"`
}

// ProviderStatus is the status Flagger keeps on MetricTemplates and
// AlertProviders. serin reads it so that objects exported from a cluster
// load as they are; it does not write it.
type ProviderStatus struct {
	// +optional
	Conditions []ProviderCondition `json:"conditions,omitempty"`
}

// ProviderCondition is a condition of a MetricTemplate or AlertProvider.
type ProviderCondition struct {
	Type   string                 `json:"type"`
	Status metav1.ConditionStatus `json:"status"`
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
