// Package kube is serin's Kubernetes runtime: a controller-runtime manager
// with one controller per API group it reconciles, serin.dev/v1beta1 and
// Flagger's flagger.app/v1beta1 (Options.APIGroups; by default each whose
// Canary CRD is installed). Both run the same engine on serin's type: a
// flagger.app Canary is a named type of it (api/flagger/v1beta1), its
// MetricTemplates and AlertProviders are looked up in its own group, and
// what its releases create is owned by it. Flagger's CRD prunes the status
// fields Flagger lacks; the controller keeps them in memory, derives them
// from Flagger's after a restart, and takes over the revision hashes of a
// status Flagger wrote (adopt.go).
//
// Each Canary is one item of one workqueue. A reconcile is one tick of the
// rollout engine: it reads the Canary and its workloads from the informer
// caches, lets the engine gather metrics and webhook results and carry out
// its actions, records the Decision's events as Kubernetes Events, writes
// the status once (retrying on conflict) and requeues the Canary after the
// Decision's RequeueAfter. A change of a target Deployment's spec queues
// its Canary at once, so that a new revision is seen without waiting for
// the next tick. No goroutine is started per Canary.
//
// A manual command is given by annotating the Canary with
// serin.dev/command set to promote, abort, pause or resume; the controller
// passes it to the next tick and removes the annotation once the tick's
// status is written. A Canary with spec.revertOnDeletion gets the
// serin.dev/finalizer finalizer (a flagger.app Canary Flagger's,
// finalizer.flagger.app), which is removed once the engine has restored
// the target.
//
// NewManager wires everything; `serin controller` and the end-to-end tests
// run the same code. The controller's own metrics (serin_canary_weight,
// serin_canary_phase, serin_canary_duration_seconds, serin_reconcile_*) and
// Flagger's (flagger_info, flagger_canary_*, with Flagger's names, labels
// and values) go to the registry given in Options, served on
// Options.MetricsAddr; /healthz and /readyz are served on
// Options.HealthAddr, the same server when both are one address (Flagger's
// -port).
package kube
