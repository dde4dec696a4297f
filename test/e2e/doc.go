// Package e2e holds end-to-end tests that build the serin binary and run it
// as a newcomer would: `serin demo` in both scenarios, and `serin run`
// killed in the middle of a release and started again. They need nothing
// but Go; -short skips them.
package e2e
