// Package telemetry records serin's golden metrics per backend (success
// rate, requests per second, latency) and answers for them two ways: as
// Prometheus metrics under Linkerd's names, and as windowed Stats for the
// analysis.
//
// A Store holds one Recorder per backend, keyed by namespace and
// deployment. The proxy looks its Recorders up once per configuration and
// calls Recorder.Record on every request; recording is a handful of atomic
// adds and allocates nothing.
//
// Windowed queries are served from a ring of per-second cumulative
// snapshots. Whoever owns the Store calls Snapshot once a second (Run does
// it with the wall clock); Stats takes its window as arguments and never
// reads the clock, so tests drive time explicitly:
//
//	s := telemetry.NewStore()
//	go s.Run(ctx)
//	rec := s.Recorder(telemetry.BackendKey{Namespace: "test", Deployment: "podinfo"})
//	rec.Record(200, 3*time.Millisecond, 0, 300)
//	st := s.Stats("test", "podinfo", now.Add(-time.Minute), now)
//
// Collector exposes the same counters to a client_golang registry that the
// caller owns: request_total, response_total and response_latency_ms with
// Linkerd's labels and buckets, so Flagger's Linkerd queries work unchanged.
package telemetry
