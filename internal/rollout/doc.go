// Package rollout is serin's release state machine: a pure function from a
// Canary's spec and last status, this tick's observations and the time to a
// Decision of actions, a new status and events.
//
// The shell (package engine) calls Plan to learn what to observe (which
// metrics, which webhook gates), gathers it, calls Step, carries out the
// actions and writes the status once. Step does no I/O, reads no clock and
// starts no goroutines, so the same Input always gives the same Decision.
package rollout
