// Package prometheus reads Canary metrics from a Prometheus server through
// its HTTP API.
//
// Client runs instant queries with a timeout and reduces the reply to one
// number: a vector of one sample or a scalar is a value; an empty vector, NaN
// or ±Inf is "no data"; several series, a matrix or a string is an error
// that names the query. Source answers the built-in metrics
// request-success-rate and request-duration from Linkerd's proxy metrics
// (response_total and response_latency_ms_bucket), with the same PromQL as
// Flagger, and adds the cumulative request, failure and latency counts of
// the canary and the primary that the statistical judge needs.
//
// Wire it explicitly:
//
//	client, err := prometheus.NewClient(prometheus.Config{Address: "http://prometheus:9090"})
//	src := prometheus.NewSource(client, time.Now)
package prometheus
