// Package dashboard serves a live web view of a running local runtime: each
// Canary's phase, traffic split, checks, metric verdicts and decisions, each
// Deployment's golden metrics and pods, and the event stream.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary; it
// needs no build step and loads nothing from outside the server. It polls
// the JSON endpoints under /api/, which read from a Source (the local API
// client) and answer within a timeout.
package dashboard
