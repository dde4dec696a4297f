// Package rollout is serin's release state machine: a pure function from a
// Canary's spec and last status, this tick's observations and the time to a
// Decision of actions, a new status and events.
//
// The shell (package engine) calls Plan to learn what to observe (which
// metrics, which webhook gates), gathers it, calls Step, carries out the
// actions and writes the status once. Step does no I/O, reads no clock and
// starts no goroutines, so the same Input always gives the same Decision.
//
// Timing is derived from the status and the time of the tick
// (AnalysisStartTime, LastCheckTime, LastStepTime, ProgressTime), so a
// Decision's RequeueAfter says when the next step or evaluation is due.
//
// The lifecycle is specified by the scenario scripts in testdata/, run by
// TestScenarios; `go test ./internal/rollout -update` rewrites their
// expected output.
package rollout
