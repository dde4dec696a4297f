package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AlertProvider is where a Canary's alerts are sent.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
type AlertProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AlertProviderSpec `json:"spec"`
	// Status is read for compatibility with Flagger's objects.
	// +optional
	Status ProviderStatus `json:"status,omitempty"`
}

// AlertProviderList is a list of AlertProviders.
//
// +kubebuilder:object:root=true
type AlertProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertProvider `json:"items"`
}

// AlertProviderSpec is an alert destination.
type AlertProviderSpec struct {
	// Type: slack, msteams, discord, rocket, gchat, or webhook.
	// +kubebuilder:validation:Enum=slack;msteams;discord;rocket;gchat;webhook
	Type string `json:"type"`
	// +optional
	Channel string `json:"channel,omitempty"`
	// +optional
	Username string `json:"username,omitempty"`
	// Address of the hook (overridden by SecretRef's "address").
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Proxy string `json:"proxy,omitempty"`
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
}
