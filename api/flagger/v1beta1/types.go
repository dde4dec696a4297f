package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	serin "github.com/serinhq/serin/api/v1beta1"
)

// Group is Flagger's API group.
const Group = serin.FlaggerGroup

// GroupVersion is flagger.app/v1beta1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: "v1beta1"}

// AddToScheme registers this package's kinds with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Canary{}, &CanaryList{},
		&MetricTemplate{}, &MetricTemplateList{},
		&AlertProvider{}, &AlertProviderList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Canary is a flagger.app Canary: serin's Canary under Flagger's group.
//
// +kubebuilder:object:root=true
type Canary serin.Canary

// CanaryList is a list of Canaries.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// MetricTemplate is a flagger.app MetricTemplate.
//
// +kubebuilder:object:root=true
type MetricTemplate serin.MetricTemplate

// MetricTemplateList is a list of MetricTemplates.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// AlertProvider is a flagger.app AlertProvider.
//
// +kubebuilder:object:root=true
type AlertProvider serin.AlertProvider

// AlertProviderList is a list of AlertProviders.
//
// +kubebuilder:object:root=true
type AlertProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertProvider `json:"items"`
}
