// Package local implements the engine's Workload for serin's local runtime,
// where a Deployment runs as local processes. It reads and changes
// Deployments through the small Cluster interface, which the runtime in
// internal/local implements; the runtime then starts and stops processes
// to match.
//
// As on Kubernetes, the primary is a copy of the target named
// <target>-primary whose selector labels (app, name or
// app.kubernetes.io/name) get the value <value>-primary, and the revision
// of the target is a hash of its pod template. RestoreTarget scales the
// target back to the primary's replica count and, once its pods are ready,
// routes all the apex Service's traffic to them and removes the primary.
package local
