// Package dashboard serves a live web view of a runtime, local or a
// cluster's: each Canary's phase, traffic split, checks, metric verdicts and
// decisions, a chart of its history, each Deployment's golden metrics and
// pods, and the event stream; and it steers releases with the manual
// commands (promote, abort, pause, resume, retry).
//
// The page is plain HTML, CSS and JavaScript embedded in the binary; it
// needs no build step and loads nothing from outside the server. It polls
// the JSON endpoints under /api/, which read from a Source and answer
// within a timeout. With an Authenticator every /api/ request must
// authenticate and sees only what its caller may view; commands always
// need an authenticated caller allowed to give them, and are guarded
// against other sites' pages (CSRF); on loopback the Host header is checked
// against DNS rebinding. The local runtime's Authenticator is TokenAuth, a
// random token printed in the page's address.
//
// A recorder per handler samples the Source's Canaries and records their
// events, keeping a bounded history of each for the charts.
package dashboard
