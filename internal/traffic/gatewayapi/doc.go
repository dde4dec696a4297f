// Package gatewayapi routes a Canary's traffic with a Gateway API
// HTTPRoute (gateway.networking.k8s.io/v1), as Linkerd 2.14+ reads it for
// mesh traffic: the route's parent is the apex Service (group core, kind
// Service, the Canary's port), or the Canary's gatewayRefs for traffic
// entering through a Gateway, and its weighted rule sends the requests to
// <apex>-primary and <apex>-canary:
//
//	apiVersion: gateway.networking.k8s.io/v1
//	kind: HTTPRoute
//	metadata: {name: podinfo, namespace: test, ownerReferences: [the Canary]}
//	spec:
//	  parentRefs: [{group: core, kind: Service, name: podinfo, port: 9898}]
//	  rules:
//	  - matches: [{path: {type: PathPrefix, value: /}}]
//	    backendRefs:
//	    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 90}
//	    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 10}
//
// A/B testing adds a first rule with the analysis' header, query, path and
// method matches that sends everything to the canary; session affinity
// adds a rule for requests that carry the canary's cookie, which the
// canary's responses set; mirroring adds a RequestMirror filter.
package gatewayapi
