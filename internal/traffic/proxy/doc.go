// Package proxy implements the engine's Router for serin's own L7 proxy
// (package internal/proxy), the router of the local runtime.
//
// The Router keeps nothing itself: it hands each Canary's split to a
// Table (the local runtime), which owns the proxy's whole configuration
// and re-applies it atomically. Route turns a split into the proxy route
// of the Canary's apex Service: the primary and canary backends with
// their weights, the A/B matches, the mirror and the sticky cookie.
package proxy
