// Package judge turns the metric observations of a Canary's analysis into
// verdicts: pass, fail, or wait (not enough data to say).
//
// For picks the judge an analysis asks for. Threshold is Flagger's judge,
// which compares the canary's value with the metric's thresholdRange, except
// that a metric without data waits for traffic instead of failing. Judges are
// pure: they read no clock and do no I/O.
package judge
