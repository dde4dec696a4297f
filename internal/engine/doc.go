// Package engine is the imperative shell around rollout.Step: for one
// Canary and one tick it observes the workloads, asks rollout.Plan what else
// to gather (metrics, webhook gates), gathers it through the adapters, calls
// rollout.Step and carries out the Decision's actions. The caller (the local
// or Kubernetes runtime) writes the returned status once and records the
// events.
package engine
