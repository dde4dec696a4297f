// Package smi routes a Canary's traffic with an SMI TrafficSplit, as
// Linkerd 2.10 (and Flagger's linkerd provider) do:
//
//	apiVersion: split.smi-spec.io/v1alpha1
//	kind: TrafficSplit
//	metadata: {name: podinfo, namespace: test, ownerReferences: [the Canary]}
//	spec:
//	  service: podinfo
//	  backends:
//	  - {service: podinfo-primary, weight: "90"}
//	  - {service: podinfo-canary, weight: "10"}
//
// Version v1alpha1 carries weights as quantities; v1alpha2 and v1alpha3 as
// integers. The Go types of the first two live in the v1alpha1 and
// v1alpha2 subpackages; a client's scheme learns them through AddToScheme.
// v1alpha3, which Open Service Mesh serves and Flagger's smi:v1alpha3
// provider writes, has v1alpha2's spec and is written as an unstructured
// object.
//
// Linkerd splits per request on the calling side, by weighted random
// choice; a TrafficSplit has no form for request matches, mirroring or
// session affinity.
package smi
