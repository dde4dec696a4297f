// Package examples embeds the example manifests, so that `serin demo` runs
// the walkthrough from the binary alone.
package examples

import "embed"

// Podinfo holds the walkthrough's manifests for the local runtime:
// podinfo/canary.yaml (the Canary) and podinfo/local/*.yaml (the podinfo,
// frontend and load Deployments and Services).
//
//go:embed podinfo/canary.yaml podinfo/local/*.yaml
var Podinfo embed.FS
