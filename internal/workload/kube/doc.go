// Package kube implements engine.Workload on Kubernetes Deployments, the way
// Flagger lays a release out, with the same names:
//
//   - the target Deployment (spec.targetRef) is the canary: it runs the new
//     revision during a release and is scaled to zero otherwise;
//   - "<target>-primary" is a copy of the target's pod template that serves
//     the stable revision, with "-primary" copies of the ConfigMaps and
//     Secrets the template references;
//   - "<svc>" (the apex), "<svc>-primary" and "<svc>-canary" Services; the
//     apex Service's selector is taken over to point at the primary;
//   - "<hpa>-primary", a copy of the target's HorizontalPodAutoscaler that
//     scales the primary, when spec.autoscalerRef is set.
//
// A DaemonSet target is laid out the same way with a primary DaemonSet;
// since a DaemonSet runs a pod on every node it selects, the canary is
// scaled to zero by a node selector no node matches (Flagger's
// "flagger.app/scale-to-zero"), which is not part of the revision.
//
// The revision of the target is a hash of its pod template and of the data
// of the ConfigMaps and Secrets it references, so a change of either starts a
// release. Options carry Flagger's flags that shape this: which selector
// labels identify the pods, which of the target's labels the primary
// copies, and whether ConfigMaps and Secrets are tracked at all. Every action is idempotent: running it twice changes nothing more.
//
// Reads go through the client it is given (in the controller, the informer
// cache); writes go to the API server.
package kube
