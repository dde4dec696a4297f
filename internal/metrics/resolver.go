package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/metrics/prometheus"
	"github.com/serinhq/serin/internal/metrics/render"
)

// The built-in metrics.
const (
	RequestSuccessRate = prometheus.RequestSuccessRate
	RequestDuration    = prometheus.RequestDuration
)

// IsBuiltin reports whether name is a built-in metric.
func IsBuiltin(name string) bool {
	return name == RequestSuccessRate || name == RequestDuration
}

// TemplateLookup returns the MetricTemplate namespace/name.
type TemplateLookup func(ctx context.Context, namespace, name string) (*v1beta1.MetricTemplate, error)

// SecretLookup returns the data of the Secret namespace/name.
type SecretLookup func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// Options configure a Resolver.
type Options struct {
	// Builtin answers the built-in metrics of Canaries that set no
	// spec.metricsServer; nil to use MetricsServer instead.
	Builtin engine.Source
	// MetricsServer is the default Prometheus address, for built-in
	// metrics (when Builtin is nil), inline queries and templates whose
	// provider has no address.
	MetricsServer string
	// Templates finds MetricTemplates; required for metrics with a
	// templateRef.
	Templates TemplateLookup
	// Secrets reads the Secrets that templates' providers name.
	Secrets SecretLookup
	// Timeout of one Prometheus query; prometheus.DefaultTimeout when zero.
	Timeout time.Duration
	// Now is the clock queries are evaluated at.
	Now func() time.Time
	// Transport returns the transport Prometheus queries are sent with;
	// a clone of http.DefaultTransport when nil.
	Transport func() *http.Transport
}

// Resolver sends each metric to its source. It is safe for concurrent use.
type Resolver struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*prometheus.Client
}

var _ engine.Source = (*Resolver)(nil)

// New returns a Resolver.
func New(opts Options) *Resolver {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Resolver{opts: opts, clients: map[string]*prometheus.Client{}}
}

// Query implements engine.Source.
func (r *Resolver) Query(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, since time.Time) (judge.Observation, error) {
	switch {
	case m.TemplateRef != nil:
		return r.queryTemplate(ctx, c, m)
	case m.Query != "":
		addr := r.metricsServer(c)
		if addr == "" {
			return judge.Observation{}, fmt.Errorf("metric %s: an inline query needs a Prometheus server: set spec.metricsServer", m.Name)
		}
		return r.queryPrometheus(ctx, c, m, m.Name, m.Query, prometheus.Config{Address: addr})
	case IsBuiltin(m.Name):
		src, err := r.builtin(c)
		if err != nil {
			return judge.Observation{}, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		return src.Query(ctx, c, m, since)
	default:
		return judge.Observation{}, fmt.Errorf("metric %s: not a built-in metric and has no templateRef", m.Name)
	}
}

func (r *Resolver) metricsServer(c *v1beta1.Canary) string {
	if c.Spec.MetricsServer != "" {
		return c.Spec.MetricsServer
	}
	return r.opts.MetricsServer
}

func (r *Resolver) builtin(c *v1beta1.Canary) (engine.Source, error) {
	if c.Spec.MetricsServer == "" && r.opts.Builtin != nil {
		return r.opts.Builtin, nil
	}
	addr := r.metricsServer(c)
	if addr == "" {
		return nil, errors.New("no metrics source: set spec.metricsServer")
	}
	client, err := r.client(prometheus.Config{Address: addr})
	if err != nil {
		return nil, err
	}
	return prometheus.NewSource(client, r.opts.Now), nil
}

func (r *Resolver) queryTemplate(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric) (judge.Observation, error) {
	ns := m.TemplateRef.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	ref := ns + "/" + m.TemplateRef.Name
	if r.opts.Templates == nil {
		return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: no template store", m.Name, ref)
	}
	tmpl, err := r.opts.Templates(ctx, ns, m.TemplateRef.Name)
	if err != nil {
		return judge.Observation{}, fmt.Errorf("metric %s: get MetricTemplate %s: %w", m.Name, ref, err)
	}
	p := tmpl.Spec.Provider
	if p.Type != "prometheus" {
		return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: provider type %q is not supported (supported: prometheus)", m.Name, ref, p.Type)
	}
	cfg := prometheus.Config{Address: p.Address, Headers: p.Headers, InsecureSkipVerify: p.InsecureSkipVerify}
	if cfg.Address == "" {
		cfg.Address = r.metricsServer(c)
	}
	if cfg.Address == "" {
		return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: spec.provider.address is empty and there is no default metrics server", m.Name, ref)
	}
	if p.SecretRef != nil {
		if err := r.credentials(ctx, ns, p.SecretRef.Name, &cfg); err != nil {
			return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: %w", m.Name, ref, err)
		}
	}
	return r.queryPrometheus(ctx, c, m, ref, tmpl.Spec.Query, cfg)
}

// credentials reads basic auth ("username", "password") or a bearer token
// ("token") from a Secret, as Flagger's Prometheus provider does.
func (r *Resolver) credentials(ctx context.Context, namespace, name string, cfg *prometheus.Config) error {
	if r.opts.Secrets == nil {
		return fmt.Errorf("secret %s/%s: no secret store", namespace, name)
	}
	data, err := r.opts.Secrets(ctx, namespace, name)
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	user, pass, token := string(data["username"]), string(data["password"]), string(data["token"])
	switch {
	case token != "":
		cfg.BearerToken = token
	case user != "" && pass != "":
		cfg.Username, cfg.Password = user, pass
	default:
		return fmt.Errorf("secret %s/%s: want keys username and password, or token", namespace, name)
	}
	return nil
}

func (r *Resolver) queryPrometheus(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, tmplName, text string, cfg prometheus.Config) (judge.Observation, error) {
	q, err := render.Query(tmplName, text, render.VarsFor(c, m))
	if err != nil {
		return judge.Observation{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	client, err := r.client(cfg)
	if err != nil {
		return judge.Observation{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	v, ok, err := client.Value(ctx, q, r.opts.Now())
	if err != nil {
		return judge.Observation{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	return judge.Observation{Metric: m.Name, HasValue: ok, Value: v, Samples: -1}, nil
}

// client returns the cached client for cfg, creating it on first use.
func (r *Resolver) client(cfg prometheus.Config) (*prometheus.Client, error) {
	cfg.Timeout = r.opts.Timeout
	cfg.Transport = r.opts.Transport
	b, err := json.Marshal(cfg) // maps marshal sorted: a stable key
	if err != nil {
		return nil, fmt.Errorf("prometheus client key: %w", err)
	}
	key := string(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	c, err := prometheus.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	r.clients[key] = c
	return c, nil
}
