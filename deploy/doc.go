// Package deploy holds serin's install manifests: the CRDs (crds/, generated
// from api/), and kustomize bases and overlays (kustomize/) for
// `kubectl apply -k`, among them kustomize/loadtester, `serin loadtester`
// as Flagger's flagger-loadtester, and the Helm chart (chart/serin), whose
// values are Flagger's chart's. Its tests render every overlay with the
// kustomize Go API and the chart with helm, and check what they produce.
package deploy
