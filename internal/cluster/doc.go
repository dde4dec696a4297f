// Package cluster is the CLI's view of a Kubernetes cluster: the Canaries
// (serin.dev and, where its CRD is installed, flagger.app), Deployments,
// TrafficSplits and HTTPRoutes, the Canaries' Events, manual commands (the
// serin.dev/command annotation), set image, and linkerd viz stat's table
// computed from Linkerd's metrics in Prometheus. For the dashboard it has
// a Watcher, a dashboard.Source built on informers, and a
// TokenAuthenticator, which authorises the dashboard's callers as
// Kubernetes users (TokenReview and SubjectAccessReview).
//
// It resolves the cluster as kubectl does (--kubeconfig, --context,
// $KUBECONFIG, ~/.kube/config, in-cluster) and answers a request the user's
// RBAC refuses with one line naming the verb and resource (Forbidden).
package cluster
