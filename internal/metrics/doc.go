// Package metrics routes each metric of a Canary's analysis to the source
// that answers it. Resolver implements engine.Source:
//
//   - the built-in metrics request-success-rate and request-duration go to
//     Prometheus at the Canary's spec.metricsServer when it is set, else to
//     Options.Builtin (the proxy's telemetry in the local runtime), else to
//     Prometheus at Options.MetricsServer (the controller's
//     --metrics-server);
//   - a metric with a templateRef runs the MetricTemplate's query, rendered
//     with Flagger's variables (package render), against the template's
//     provider: Prometheus, or one of package providers' (graphite,
//     influxdb, datadog, newrelic, cloudwatch, stackdriver, dynatrace,
//     splunk, keptn, externalmetrics), built from spec.provider and the
//     data of its secretRef;
//   - a metric with an inline query (Flagger's deprecated form) runs it
//     against the Canary's Prometheus.
//
// A template that cannot be found or rendered, an unsupported provider and
// an unreachable server are errors, which the engine reports on the Canary;
// they are never mistaken for "no data". Clients are kept per provider,
// address and credentials, so each server is dialled through one
// connection pool. Options.Kube and Options.KubeConfig give keptn and
// externalmetrics the controller's cluster; without them (the local
// runtime) those providers are refused.
//
// The runtimes wire it with their own stores:
//
//	src := metrics.New(metrics.Options{
//		Builtin:   builtin.New(store, time.Now),
//		Templates: lookupTemplate,
//		Secrets:   lookupSecret,
//		Now:       time.Now,
//	})
package metrics
