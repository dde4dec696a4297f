// Package v1alpha2 holds the SMI TrafficSplit kind of split.smi-spec.io/v1alpha2
// (weights are integers): the few types serin writes, with their deep-copy
// functions and AddToScheme.
//
// +kubebuilder:object:generate=true
// +groupName=split.smi-spec.io
package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is split.smi-spec.io/v1alpha2.
var GroupVersion = schema.GroupVersion{Group: "split.smi-spec.io", Version: "v1alpha2"}

// AddToScheme registers TrafficSplit and TrafficSplitList with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &TrafficSplit{}, &TrafficSplitList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// TrafficSplit splits the traffic sent to an apex Service between backend
// Services by weight.
//
// +kubebuilder:object:root=true
type TrafficSplit struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TrafficSplitSpec `json:"spec"`
}

// TrafficSplitList is a list of TrafficSplits.
//
// +kubebuilder:object:root=true
type TrafficSplitList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficSplit `json:"items"`
}

// TrafficSplitSpec names the apex Service and its backends.
type TrafficSplitSpec struct {
	// Service is the apex Service whose traffic is split.
	Service string `json:"service"`
	// Backends share the apex Service's traffic.
	Backends []TrafficSplitBackend `json:"backends"`
}

// TrafficSplitBackend is one backend Service of a split.
type TrafficSplitBackend struct {
	// Service is the backend Service's name.
	Service string `json:"service"`
	// Weight is the backend's share of the traffic, relative to the
	// other backends'.
	Weight int `json:"weight"`
}
