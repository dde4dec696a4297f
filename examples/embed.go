// Package examples embeds the example manifests, so that `serin demo` runs
// the walkthrough from the binary alone.
package examples

import "embed"

// Podinfo holds the walkthrough's manifests for the local runtime:
// podinfo/canary.yaml (the Canary), podinfo/canary-webhooks.yaml (the
// Canary with Flagger's loadtester webhooks) and podinfo/local/*.yaml
// (the podinfo, frontend, load and Flagger's loadtester Deployments and
// Services).
//
//go:embed podinfo/canary.yaml podinfo/canary-webhooks.yaml podinfo/local/*.yaml
var Podinfo embed.FS
