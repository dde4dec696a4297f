// Package kube holds serin's end-to-end tests of the Kubernetes mode. They
// run on a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok from internal/testenv)
// with a real Prometheus, install the CRDs from deploy/crds, apply the
// walkthrough's manifests from examples/podinfo/kubernetes and run the
// controller in process through kube.NewManager, the code `serin
// controller` runs; binary_test.go runs the built `serin controller`
// itself, kills it mid-release and checks a new one resumes.
//
// kwok has no data plane, so an exporter in the test plays Linkerd's
// proxies: it reads the weights the controller set in the TrafficSplit (or
// HTTPRoute) and counts 10 requests a second in Linkerd's metric names,
// split by those weights, with the error rate and latency each test gives
// the new revision. Prometheus scrapes it every second.
//
// Run them with the cluster binaries installed (`make testenv`):
//
//	set -a; . ~/.cache/serin-testenv/env; set +a
//	go test ./test/e2e/kube/ -v
//
// The scale benchmark runs only with -scale=N (see bench_test.go).
package kube
