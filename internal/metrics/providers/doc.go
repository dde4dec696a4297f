// Package providers runs MetricTemplate queries against the metrics
// backends Flagger supports besides Prometheus: graphite, influxdb
// (Flux), datadog, newrelic, cloudwatch, stackdriver (Google Cloud
// Monitoring), dynatrace, splunk (SignalFx SignalFlow), keptn and
// externalmetrics (the Kubernetes external metrics API).
//
// Each backend is a Provider: one method that runs a rendered query and
// reduces the reply to one number, with Flagger's semantics for what the
// query is, the time range it covers, and which value of the reply is
// taken. ok is false when the reply holds no data; a reply that cannot be
// reduced to one number (several series) is an error. Errors name the
// provider and its address and wrap ErrCredentials, ErrThrottled,
// ErrMalformed or ErrRefused where the failure is one of those.
//
// New builds a Provider from a template's spec.provider and the data of
// its secretRef, with the key names Flagger uses; it checks them without
// contacting the backend. Wire it explicitly:
//
//	p, err := providers.New(providers.Config{
//		Type:    "datadog",
//		Secret:  secretData, // datadog_api_key, datadog_application_key
//		Timeout: 10 * time.Second,
//	})
//	v, ok, err := p.Value(ctx, providers.Query{Text: query, Interval: time.Minute, Now: time.Now()})
//
// The HTTP providers share one small client (http.go); CloudWatch uses
// the AWS SDK for its credential chain and request signing, Stackdriver
// golang.org/x/oauth2/google for service account keys and Workload
// Identity, keptn and externalmetrics the controller's Kubernetes client.
package providers
