// Package svcnames resolves Kubernetes Service names to the local
// runtime's listeners, so that addresses written for a cluster
// (http://flagger-loadtester.test/, http://podinfo-canary.test:9898/,
// podinfo.test.svc.cluster.local:9898) reach the local Service of that
// name and namespace with no DNS server, no /etc/hosts entry and no root.
//
// A host is a Service name (Parse) in one of Kubernetes' forms:
// name.namespace, name.namespace.svc and name.namespace.svc.cluster.local.
// A Table maps each local Service's ports to the loopback address serin's
// proxy listens on for it. Resolve decides, the same way for serin run's
// clients and for serin validate --local:
//
//   - a Service the table holds: the address of the port asked for, or an
//     error naming the ports it has;
//   - a name ending in .svc or .svc.cluster.local, or of a namespace that
//     holds local Services, that the table does not hold: an error saying
//     so (such a name is meant for the cluster, and DNS would only say "no
//     such host");
//   - anything else (example.com, an IP address): not a local name, left to
//     the system's resolver.
//
// Dialer is a DialContext that resolves through a table before dialling,
// and Transport an http.Transport with it that never sends a request for
// a local name to an HTTP proxy. The local runtime writes its table to a
// file (WriteFile) and names it to its processes in the environment
// variable EnvVar; serin's commands that make requests for a process
// (serin loadtester's hey) read it with FileTable.
package svcnames
