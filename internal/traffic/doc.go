// Package traffic chooses the Kubernetes router that splits a Canary's
// traffic, by the provider name of the controller's --mesh-provider flag or
// the Canary's spec.provider:
//
//	"", "linkerd", "smi", "smi:v1alpha1"  SMI TrafficSplit v1alpha1 (package smi)
//	"smi:v1alpha2"                        SMI TrafficSplit v1alpha2 (package smi)
//	"smi:v1alpha3"                        SMI TrafficSplit v1alpha3, as Open Service Mesh (package smi)
//	"gatewayapi", "gatewayapi:v1"         Gateway API HTTPRoute v1 (package gatewayapi)
//	"gatewayapi:v1beta1"                  Gateway API HTTPRoute v1beta1, as Flagger's Linkerd install (package gatewayapi)
//	"kubernetes"                          no traffic split: Flagger's blue/green without a mesh (KubernetesRouter)
//
// Each router implements engine.Router over a controller-runtime client
// whose scheme knows the kinds it writes (AddToScheme registers them all).
// The local runtime's router, serin's own proxy, is in package proxy.
package traffic
