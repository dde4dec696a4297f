// Package local is serin's local runtime: it runs Kubernetes-style
// manifests on one machine, with no cluster and no containers.
//
//   - Deployments run as local processes (Supervisor): command and args
//     with $(VAR) expansion (Expand), one free loopback port per pod given
//     as $PORT, readiness and liveness probes (Prober), restarts with
//     backoff, output in log files under the state directory. A command
//     named "serin" runs the serin binary itself.
//   - Services become listeners of serin's proxy on 127.0.0.1:<port>
//     (ProxyPlane), whose backends are the ready pods of the Deployments
//     they select; a port below 1024, and the <service>-primary and
//     <service>-canary Services a Canary makes, listen on free ports.
//     Their Kubernetes names (podinfo-canary.test:9898) resolve to those
//     listeners through the runtime's Dialer, which the engine's webhooks,
//     metric queries and alerts use, and through the table written to
//     NamesPath for the processes (internal/svcnames). Flagger's
//     loadtester image runs as serin loadtester (localContainer).
//   - Canaries are reconciled by the engine, through the Workload of
//     internal/workload/local and the Router of internal/traffic/proxy,
//     with metrics from the proxy's telemetry. Deleting a Canary never
//     leaves its Service without ready pods: with revertOnDeletion it goes
//     through Terminating until its target is restored; without, its
//     primary hands over to the target once the target's pods are ready.
//   - Everything is persisted in a locked state directory (Store), so a
//     runtime that stops, or is killed, resumes its releases where they
//     were; the local API (ServeAPI, Client) serves the CLI on a unix
//     socket there.
//   - An apply is all or nothing: the objects, with those the runtime
//     already holds, are checked as a whole (plan) before anything is
//     saved; Check runs the same check over an empty runtime for serin
//     validate --local, so what validate accepts is what run runs. An
//     object applied again with the content it was last applied with is
//     left as it is, so re-reading the manifests a release started from
//     does not cancel it.
//
// Open a Runtime, Apply objects to it, then Run it:
//
//	rt, err := local.Open(local.Options{StateDir: dir, NewEngine: newEngine})
//	...
//	_, err = rt.Apply(objs...)
//	err = rt.Run(ctx, rt.ServeAPI)
package local
