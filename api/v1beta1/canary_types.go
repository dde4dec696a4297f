package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Canary is a progressive release of one workload: while the analysis stays
// healthy, traffic moves step by step from the primary to the new revision;
// when it does not, traffic goes back to the primary.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cn,categories=all
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="FailedChecks",type=integer,JSONPath=`.status.failedChecks`,priority=1
// +kubebuilder:printcolumn:name="LastTransitionTime",type=string,JSONPath=`.status.lastTransitionTime`
type Canary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CanarySpec   `json:"spec"`
	Status CanaryStatus `json:"status,omitempty"`
}

// CanaryList is a list of Canaries.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// CanarySpec is what a Canary asks for.
type CanarySpec struct {
	// Provider names the router that splits traffic: "linkerd" (SMI
	// TrafficSplit v1alpha1), "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3",
	// "gatewayapi:v1", "gatewayapi:v1beta1", or "serin" for the local
	// proxy. Empty means the
	// controller's default.
	// +optional
	Provider string `json:"provider,omitempty"`

	// MetricsServer is the address of the Prometheus server the built-in
	// metrics are read from. Empty means the controller's default.
	// +optional
	MetricsServer string `json:"metricsServer,omitempty"`

	// TargetRef is the workload being released (a Deployment; Flagger's
	// DaemonSet targets are refused with a message saying so).
	TargetRef LocalObjectReference `json:"targetRef"`

	// AutoscalerRef is the HorizontalPodAutoscaler of the target, copied for
	// the primary.
	// +optional
	AutoscalerRef *AutoscalerReference `json:"autoscalerRef,omitempty"`

	// IngressRef is an ingress the canary routes through (ingress
	// providers only).
	// +optional
	IngressRef *LocalObjectReference `json:"ingressRef,omitempty"`

	// UpstreamRef is an upstream object of some ingress providers.
	// +optional
	UpstreamRef *CrossNamespaceObjectReference `json:"upstreamRef,omitempty"`
	// RouteRef is a route object of some ingress providers (APISIX).
	// +optional
	RouteRef *LocalObjectReference `json:"routeRef,omitempty"`

	// Service describes the Services and routes serin creates.
	Service CanaryService `json:"service"`

	// Analysis is how the release is judged and how traffic moves.
	// +optional
	Analysis *CanaryAnalysis `json:"analysis,omitempty"`

	// ProgressDeadlineSeconds is how long the canary may take to make
	// progress (become ready, receive traffic) before it is rolled back.
	// Defaults to 600.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// SkipAnalysis promotes a new revision without analysis.
	// +optional
	SkipAnalysis bool `json:"skipAnalysis,omitempty"`

	// RevertOnDeletion restores the target and routes everything to it when
	// the Canary is deleted.
	// +optional
	RevertOnDeletion bool `json:"revertOnDeletion,omitempty"`

	// Suspend stops the reconciling of this Canary where it is.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// LocalObjectReference names an object in the Canary's namespace.
type LocalObjectReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
}

// CrossNamespaceObjectReference names an object, possibly in another
// namespace.
type CrossNamespaceObjectReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AutoscalerReference names the target's autoscaler.
type AutoscalerReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	// PrimaryScalerQueries maps trigger names to queries for the primary's
	// scaler (KEDA ScaledObjects).
	// +optional
	PrimaryScalerQueries map[string]string `json:"primaryScalerQueries,omitempty"`
	// PrimaryScalerReplicas overrides the primary autoscaler's bounds.
	// +optional
	PrimaryScalerReplicas *ScalerReplicas `json:"primaryScalerReplicas,omitempty"`
}

// ScalerReplicas are the bounds of an autoscaler.
type ScalerReplicas struct {
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// CanaryService describes the apex, primary and canary Services.
type CanaryService struct {
	// Name of the apex Service; defaults to the target's name.
	// +optional
	Name string `json:"name,omitempty"`
	// Port the Services expose.
	Port int32 `json:"port"`
	// +optional
	PortName string `json:"portName,omitempty"`
	// TargetPort on the pods; defaults to Port.
	// +optional
	TargetPort intstr.IntOrString `json:"targetPort,omitempty"`
	// +optional
	AppProtocol string `json:"appProtocol,omitempty"`
	// PortDiscovery exposes every container port of the target.
	// +optional
	PortDiscovery bool `json:"portDiscovery,omitempty"`
	// Timeout of requests through the route, e.g. "30s".
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// BackendTimeout bounds each request from the route to a backend, e.g.
	// "10s": the HTTPRoute rule's timeouts.backendRequest (Gateway API
	// only; it has no effect on the other providers).
	// +optional
	BackendTimeout string `json:"backendTimeout,omitempty"`
	// Headless makes the generated primary and canary Services headless
	// (clusterIP None).
	// +optional
	Headless bool `json:"headless,omitempty"`
	// TrafficDistribution is set on the generated Services
	// (spec.trafficDistribution): PreferClose, PreferSameZone or
	// PreferSameNode.
	// +kubebuilder:validation:Enum=PreferClose;PreferSameZone;PreferSameNode
	// +optional
	TrafficDistribution string `json:"trafficDistribution,omitempty"`
	// Mirror copies the requests of the route to other backends: Gateway
	// API RequestMirror filters on the HTTPRoute (Gateway API only).
	// +optional
	Mirror []ServiceMirror `json:"mirror,omitempty"`
	// UnmanagedMetadata lists the label and annotation keys of the
	// generated objects that serin leaves as others set them: it neither
	// overwrites nor removes them.
	// +optional
	UnmanagedMetadata *UnmanagedMetadata `json:"unmanagedMetadata,omitempty"`

	// Backends, Gateways, GatewayRefs, Delegation, Hosts, TrafficPolicy,
	// Match, Rewrite, Retries, Headers, CorsPolicy and MeshName are read for
	// compatibility with Flagger's other providers; the Linkerd, Gateway API
	// and local routers use GatewayRefs and Timeout only.
	// +optional
	Backends []string `json:"backends,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// +optional
	GatewayRefs []ParentReference `json:"gatewayRefs,omitempty"`
	// +optional
	Delegation bool `json:"delegation,omitempty"`
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	TrafficPolicy *RawJSON `json:"trafficPolicy,omitempty"`
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Rewrite *RawJSON `json:"rewrite,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Retries *RawJSON `json:"retries,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Headers *RawJSON `json:"headers,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	CorsPolicy *RawJSON `json:"corsPolicy,omitempty"`
	// +optional
	MeshName string `json:"meshName,omitempty"`

	// Apex, Primary and Canary add labels and annotations to the
	// generated Services.
	// +optional
	Apex *CustomMetadata `json:"apex,omitempty"`
	// +optional
	Primary *CustomMetadata `json:"primary,omitempty"`
	// +optional
	Canary *CustomMetadata `json:"canary,omitempty"`
}

// ServiceMirror is one RequestMirror filter of an HTTPRoute.
type ServiceMirror struct {
	// BackendRef is where the copies go.
	BackendRef MirrorBackendRef `json:"backendRef"`
}

// MirrorBackendRef names the backend of a mirror, as a Gateway API
// BackendObjectReference.
type MirrorBackendRef struct {
	// +optional
	Group *string `json:"group,omitempty"`
	// Kind defaults to Service.
	// +optional
	Kind *string `json:"kind,omitempty"`
	Name string  `json:"name"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// Port is required for a Service.
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// UnmanagedMetadata lists metadata keys serin does not manage.
type UnmanagedMetadata struct {
	// +optional
	Labels []string `json:"labels,omitempty"`
	// +optional
	Annotations []string `json:"annotations,omitempty"`
}

// ParentReference names a Gateway (or Service) a route attaches to.
type ParentReference struct {
	// +optional
	Group *string `json:"group,omitempty"`
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	Name      string  `json:"name"`
	// +optional
	SectionName *string `json:"sectionName,omitempty"`
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// CustomMetadata is extra metadata for a generated object.
type CustomMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// CanaryAnalysis is how a release is judged and how its traffic moves.
//
// The strategy follows from the fields, as in Flagger: match with
// iterations is A/B testing, iterations alone is blue/green (with mirror, a
// blue/green with traffic mirroring), anything else is a canary release.
type CanaryAnalysis struct {
	// Interval between steps, e.g. "1m". Defaults to 60s. Kubernetes
	// requires at least 10s; the local runtime allows 1s.
	// +optional
	Interval string `json:"interval,omitempty"`
	// Iterations of a blue/green or A/B analysis.
	// +optional
	Iterations int `json:"iterations,omitempty"`
	// Mirror sends a copy of the primary's traffic to the canary (blue/green).
	// +optional
	Mirror bool `json:"mirror,omitempty"`
	// MirrorWeight is the share of traffic mirrored, in percent.
	// +optional
	MirrorWeight int `json:"mirrorWeight,omitempty"`
	// MaxWeight is the canary weight at which it is promoted. Defaults to 100.
	// +optional
	MaxWeight int `json:"maxWeight,omitempty"`
	// StepWeight is how much the canary weight rises each interval.
	// +optional
	StepWeight int `json:"stepWeight,omitempty"`
	// StepWeights lists the weights to step through instead of StepWeight.
	// +optional
	StepWeights []int `json:"stepWeights,omitempty"`
	// StepWeightPromotion moves traffic to the promoted primary in steps of
	// this size instead of all at once.
	// +optional
	StepWeightPromotion int `json:"stepWeightPromotion,omitempty"`
	// Threshold is how many failed checks roll the canary back. Defaults to
	// 1; 0 reads as the default, as in Flagger.
	// +optional
	Threshold int `json:"threshold,omitempty"`
	// PrimaryReadyThreshold is the percentage of primary pods that must be
	// ready. Defaults to 100.
	// +optional
	PrimaryReadyThreshold *int `json:"primaryReadyThreshold,omitempty"`
	// CanaryReadyThreshold is the percentage of canary pods that must be
	// ready. Defaults to 100.
	// +optional
	CanaryReadyThreshold *int `json:"canaryReadyThreshold,omitempty"`
	// Alerts send notifications of the release's events.
	// +optional
	Alerts []CanaryAlert `json:"alerts,omitempty"`
	// Metrics judged at each step.
	// +optional
	Metrics []CanaryMetric `json:"metrics,omitempty"`
	// Webhooks called at the gates of the release.
	// +optional
	Webhooks []CanaryWebhook `json:"webhooks,omitempty"`
	// Match sends requests that match to the canary (A/B testing).
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`
	// SessionAffinity keeps a client on the version it first got.
	// +optional
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`

	// Judge selects how metrics are judged. Unset means Flagger's fixed
	// thresholds on the canary alone. This field is serin's own.
	// +optional
	Judge *JudgeSpec `json:"judge,omitempty"`
}

// JudgeSpec selects and tunes the metric judge. It is serin's own extension.
type JudgeSpec struct {
	// Type is "threshold" (Flagger's, the default) or "sequential" (an
	// always-valid comparison of the canary against the primary).
	// +kubebuilder:validation:Enum=threshold;sequential
	// +optional
	Type string `json:"type,omitempty"`
	// Alpha is the false-rollback rate the sequential judge allows,
	// between 0 and 0.5. Defaults to 0.01.
	// +optional
	Alpha *float64 `json:"alpha,omitempty"`
	// Tolerance is how much worse than the primary the sequential judge
	// lets the canary be before it counts as a regression: a factor on the
	// primary's odds of a failed (or slow) request, from 1 (no worse at all)
	// to 10. Defaults to 1.2 for failed requests and 1.5 for slow ones;
	// when set, it applies to both.
	// +optional
	Tolerance *float64 `json:"tolerance,omitempty"`
	// EvaluationInterval is how often metrics are evaluated between steps,
	// e.g. "2s", so that a broken canary is rolled back before the next
	// step. Defaults to 2s for the sequential judge (or the analysis
	// interval when that is shorter) and to the analysis interval for the
	// threshold judge.
	// +optional
	EvaluationInterval string `json:"evaluationInterval,omitempty"`
}

// SessionAffinity configures sticky sessions during a canary release.
type SessionAffinity struct {
	// CookieName is the cookie that pins a client to the canary.
	CookieName string `json:"cookieName"`
	// MaxAge of the cookie in seconds. Defaults to 86400.
	// +optional
	MaxAge int `json:"maxAge,omitempty"`
	// PrimaryCookieName pins a client to the primary.
	// +optional
	PrimaryCookieName string `json:"primaryCookieName,omitempty"`
	// Domain, Path, HTTPOnly, Secure, SameSite and Partitioned are the
	// attributes of the cookies set, as in RFC 6265 and CHIPS.
	// +optional
	Domain string `json:"domain,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	HTTPOnly bool `json:"httpOnly,omitempty"`
	// +optional
	Secure bool `json:"secure,omitempty"`
	// SameSite is Strict, Lax or None.
	// +kubebuilder:validation:Enum=Strict;Lax;None
	// +optional
	SameSite string `json:"sameSite,omitempty"`
	// +optional
	Partitioned bool `json:"partitioned,omitempty"`
}

// CanaryMetric is one metric of the analysis.
type CanaryMetric struct {
	// Name of the metric: a built-in ("request-success-rate",
	// "request-duration") or a name for the template's result.
	Name string `json:"name"`
	// Interval the metric is computed over, e.g. "1m". Defaults to 1m.
	// +optional
	Interval string `json:"interval,omitempty"`
	// Threshold is the deprecated form of ThresholdRange, as in Flagger:
	// the minimum of request-success-rate and the maximum of every other
	// metric. Ignored when thresholdRange is set.
	// +optional
	Threshold float64 `json:"threshold,omitempty"`
	// ThresholdRange is the range the metric must stay within.
	// +optional
	ThresholdRange *CanaryThresholdRange `json:"thresholdRange,omitempty"`
	// Query is the deprecated inline form of a template's query.
	// +optional
	Query string `json:"query,omitempty"`
	// TemplateRef names the MetricTemplate that computes the metric.
	// +optional
	TemplateRef *CrossNamespaceObjectReference `json:"templateRef,omitempty"`
	// TemplateVariables are passed to the template as .variables.
	// +optional
	TemplateVariables map[string]string `json:"templateVariables,omitempty"`
}

// CanaryThresholdRange bounds a metric. Either end may be unset.
type CanaryThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// HookType is the gate at which a webhook is called.
type HookType string

// The webhook types, as Flagger's.
const (
	ConfirmRolloutHook         HookType = "confirm-rollout"
	PreRolloutHook             HookType = "pre-rollout"
	RolloutHook                HookType = "rollout"
	ConfirmTrafficIncreaseHook HookType = "confirm-traffic-increase"
	ConfirmPromotionHook       HookType = "confirm-promotion"
	PostRolloutHook            HookType = "post-rollout"
	RollbackHook               HookType = "rollback"
	EventHook                  HookType = "event"
)

// HookTypes lists every webhook type.
var HookTypes = []HookType{
	ConfirmRolloutHook, PreRolloutHook, RolloutHook, ConfirmTrafficIncreaseHook,
	ConfirmPromotionHook, PostRolloutHook, RollbackHook, EventHook,
}

// CanaryWebhook is a webhook called at a gate of the release. A reply of
// 200-202 passes the gate.
type CanaryWebhook struct {
	// Type is the gate; defaults to "rollout".
	// +kubebuilder:validation:Enum="";confirm-rollout;pre-rollout;rollout;confirm-traffic-increase;confirm-promotion;post-rollout;rollback;event
	// +optional
	Type HookType `json:"type,omitempty"`
	Name string   `json:"name"`
	URL  string   `json:"url"`
	// MuteAlert keeps this webhook's failures out of alerts.
	// +optional
	MuteAlert bool `json:"muteAlert,omitempty"`
	// Timeout of a call, e.g. "10s". Defaults to 10s.
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// Metadata is sent in the payload.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// Retries of a failed call within one gate.
	// +optional
	Retries int `json:"retries,omitempty"`
	// DisableTLS skips the verification of the webhook's TLS certificate.
	// +optional
	DisableTLS bool `json:"disableTLS,omitempty"`
}

// CanaryAlert sends the release's events to an AlertProvider.
type CanaryAlert struct {
	Name string `json:"name"`
	// Severity is the lowest severity sent: info, warn or error.
	// +kubebuilder:validation:Enum="";info;warn;error
	// +optional
	Severity string `json:"severity,omitempty"`
	// ProviderRef names the AlertProvider.
	ProviderRef CrossNamespaceObjectReference `json:"providerRef"`
}

// HTTPMatchRequest selects requests, as Istio's HTTPMatchRequest, which
// Flagger's analysis.match uses. serin's routers honour Headers (cookies are
// matched through the "cookie" header), QueryParams, URI and Method.
type HTTPMatchRequest struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// +optional
	Port uint32 `json:"port,omitempty"`
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// +optional
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
}

// StringMatch matches a string exactly, by prefix or suffix, or by a
// regular expression (RE2). Exactly one is set.
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Suffix string `json:"suffix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// RawJSON is a JSON value kept as it was written, for fields serin reads
// only for compatibility.
// +kubebuilder:validation:Type=object
// +kubebuilder:pruning:PreserveUnknownFields
type RawJSON struct {
	Raw []byte `json:"-"`
}

// MarshalJSON returns the value as written, or null.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r.Raw) == 0 {
		return []byte("null"), nil
	}
	return r.Raw, nil
}

// UnmarshalJSON keeps a copy of the value.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	r.Raw = append(r.Raw[:0], b...)
	return nil
}
