package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultTimeout bounds one query when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Query is one rendered MetricTemplate query.
type Query struct {
	// Text is the query with the template's variables filled in.
	Text string
	// Interval is the metric's interval (default 1m). Providers whose
	// APIs take a time range derive it from the interval as Flagger does.
	Interval time.Duration
	// Now is the end of the time range the query looks at.
	Now time.Time
}

// Provider runs rendered queries against one metrics backend and reduces
// each reply to one number. ok is false when the reply holds no data;
// errors are failures to get an answer (bad credentials, throttling, a
// malformed reply, a refused query), never "no data".
type Provider interface {
	Value(ctx context.Context, q Query) (v float64, ok bool, err error)
}

// The kinds of failure a caller may tell apart with errors.Is. Every
// error a provider returns also names the provider, its address and the
// query.
var (
	// ErrCredentials: the backend refused the credentials (HTTP 401 or
	// 403, or the provider's equivalent).
	ErrCredentials = errors.New("bad credentials")
	// ErrThrottled: the backend asks to slow down (HTTP 429 or the
	// provider's quota error); the query is retried at the next interval.
	ErrThrottled = errors.New("throttled")
	// ErrMalformed: the reply could not be read as the provider's format.
	ErrMalformed = errors.New("malformed reply")
	// ErrRefused: the backend answered with an error, e.g. a query it
	// cannot parse.
	ErrRefused = errors.New("query failed")
)

// Config is a MetricTemplate's spec.provider, with the data of its
// secretRef.
type Config struct {
	// Type is spec.provider.type.
	Type string
	// Address is spec.provider.address; some providers have a default.
	Address string
	// Headers are sent with every request of HTTP providers.
	Headers map[string][]string
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool
	// Region is spec.provider.region (cloudwatch).
	Region string
	// Secret is the data of the Secret spec.provider.secretRef names;
	// nil when the template names none.
	Secret map[string][]byte
	// Timeout of one query; DefaultTimeout when zero.
	Timeout time.Duration
	// Kube reads and writes Keptn's objects (keptn); nil outside a
	// cluster.
	Kube client.Client
	// KubeConfig reaches the cluster's API server (externalmetrics
	// without an address); nil outside a cluster.
	KubeConfig *rest.Config
	// Transport returns the transport HTTP providers send with (the local
	// runtime's resolves Kubernetes Service names); a clone of
	// http.DefaultTransport when nil.
	Transport func() *http.Transport
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// secret returns the value of key in the template's Secret, or an error
// naming the key and the keys the provider wants.
func (c Config) secret(key string, want ...string) (string, error) {
	if c.Secret == nil {
		return "", fmt.Errorf("%s needs spec.provider.secretRef, a Secret with the keys %v", c.Type, want)
	}
	v, ok := c.Secret[key]
	if !ok || len(v) == 0 {
		return "", fmt.Errorf("%s: the Secret of spec.provider.secretRef has no key %q (want %v)", c.Type, key, want)
	}
	return string(v), nil
}

// Types lists the provider types New builds, besides "prometheus" which
// package prometheus serves.
func Types() []string {
	return []string{
		"graphite", "influxdb", "datadog", "newrelic", "cloudwatch",
		"stackdriver", "dynatrace", "splunk", "keptn", "externalmetrics",
	}
}

// New returns the provider of cfg.Type. It checks the configuration (the
// address, the Secret's keys) but does not contact the backend.
func New(cfg Config) (Provider, error) {
	switch cfg.Type {
	case "graphite":
		return newGraphite(cfg)
	case "influxdb":
		return newInfluxDB(cfg)
	case "datadog":
		return newDatadog(cfg)
	case "newrelic":
		return newNewRelic(cfg)
	case "cloudwatch":
		return newCloudWatch(cfg)
	case "stackdriver":
		return newStackdriver(cfg)
	case "dynatrace":
		return newDynatrace(cfg)
	case "splunk":
		return newSplunk(cfg)
	case "keptn":
		return newKeptn(cfg)
	case "externalmetrics":
		return newExternalMetrics(cfg)
	}
	return nil, fmt.Errorf("provider type %q is not supported (supported: %v)", cfg.Type, append([]string{"prometheus"}, Types()...))
}

// IsType reports whether New builds providers of type t.
func IsType(t string) bool { return slices.Contains(Types(), t) }
