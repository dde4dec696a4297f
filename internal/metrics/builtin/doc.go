// Package builtin answers a Canary's built-in metrics from the golden
// metrics serin's proxy records in process (package telemetry), the
// default source of the local runtime.
//
// request-success-rate is the canary's share of non-failed requests in
// percent and request-duration its p99 latency in milliseconds, both over
// the metric's interval; the canary is the deployment named by the
// Canary's targetRef and the primary that name with "-primary". Every
// observation also carries the cumulative requests, failures and latency
// histograms of both since the analysis began, for the statistical judge.
//
//	src := builtin.New(store, time.Now)
package builtin
