// Package local implements the engine's Workload for serin's local runtime,
// where a Deployment runs as local processes. It reads and changes
// Deployments through the small Cluster interface, which the runtime in
// internal/local implements; the runtime then starts and stops processes
// to match.
//
// As on Kubernetes, the primary is a copy of the target named
// <target>-primary whose selector labels (app, name or
// app.kubernetes.io/name) get the value <value>-primary, and the revision
// of the target is a hash of its pod template.
package local
