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
// Version v1alpha1 carries weights as quantities; v1alpha2 as integers.
// The Go types of both live in the v1alpha1 and v1alpha2 subpackages; a
// client's scheme learns them through AddToScheme.
//
// Linkerd splits per request on the calling side, by weighted random
// choice; a TrafficSplit has no form for request matches, mirroring or
// session affinity.
package smi
