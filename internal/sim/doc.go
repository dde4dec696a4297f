// Package sim simulates releases on a virtual clock: a synthetic traffic
// model (Poisson arrivals at a total rate, split between primary and canary
// by the canary weight, with error rates and log-normal latencies per
// version) feeds the real rollout core and judges, so that a Canary's
// behaviour under a regression can be measured before it ships.
//
// Traffic answers metric queries as a source would: the canary's value over
// the metric's interval, and cumulative counts and Linkerd-bucketed latency
// histograms of both versions since the analysis began. Run drives
// rollout.Plan and rollout.Step for one release; RunMany runs many seeded
// releases in parallel and Summarize aggregates them. Nothing sleeps or
// reads the clock, and the same seed always gives the same results.
package sim
