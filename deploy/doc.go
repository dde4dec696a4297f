// Package deploy holds serin's install manifests: the CRDs (crds/, generated
// from api/), and kustomize bases and overlays (kustomize/) for
// `kubectl apply -k`, among them kustomize/loadtester, `serin loadtester`
// as Flagger's flagger-loadtester. Its tests render every overlay with the kustomize Go
// API and check what it produces.
package deploy
