package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/metrics/prometheus"
	"github.com/serinhq/serin/internal/metrics/providers"
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
	// Timeout of one query; prometheus.DefaultTimeout when zero.
	Timeout time.Duration
	// Kube and KubeConfig reach the cluster the controller runs on, for
	// the keptn and externalmetrics providers; nil in the local runtime,
	// which refuses those providers.
	Kube       client.Client
	KubeConfig *rest.Config
	// Now is the clock queries are evaluated at.
	Now func() time.Time
	// Transport returns the transport Prometheus and the HTTP providers'
	// queries are sent with; a clone of http.DefaultTransport when nil.
	Transport func() *http.Transport
}

// Resolver sends each metric to its source. It is safe for concurrent use.
type Resolver struct {
	opts Options

	mu        sync.Mutex
	clients   map[string]*prometheus.Client
	providers map[string]providers.Provider
}

var _ engine.Source = (*Resolver)(nil)

// New returns a Resolver.
func New(opts Options) *Resolver {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Resolver{opts: opts, clients: map[string]*prometheus.Client{}, providers: map[string]providers.Provider{}}
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
	switch {
	case p.Type == "prometheus":
	case providers.IsType(p.Type):
		return r.queryProvider(ctx, c, m, ns, ref, tmpl)
	default:
		return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: provider type %q is not supported (supported: %s)", m.Name, ref, p.Type, strings.Join(SupportedTypes(), ", "))
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

// SupportedTypes lists the MetricTemplate provider types the resolver
// queries.
func SupportedTypes() []string {
	return append([]string{"prometheus"}, providers.Types()...)
}

// queryProvider runs a template whose provider is one of package
// providers'.
func (r *Resolver) queryProvider(ctx context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, ns, ref string, tmpl *v1beta1.MetricTemplate) (judge.Observation, error) {
	fail := func(err error) (judge.Observation, error) {
		return judge.Observation{}, fmt.Errorf("metric %s: MetricTemplate %s: %w", m.Name, ref, err)
	}
	vars := render.VarsFor(c, m)
	interval, err := time.ParseDuration(vars.Interval)
	if err != nil || interval <= 0 {
		return fail(fmt.Errorf("interval %q is not a duration", vars.Interval))
	}
	q, err := render.Query(ref, tmpl.Spec.Query, vars)
	if err != nil {
		return fail(err)
	}
	p := tmpl.Spec.Provider
	cfg := providers.Config{
		Type: p.Type, Address: p.Address, Headers: p.Headers, InsecureSkipVerify: p.InsecureSkipVerify,
		Region: p.Region, Timeout: r.opts.Timeout, Kube: r.opts.Kube, KubeConfig: r.opts.KubeConfig,
		Transport: r.opts.Transport,
	}
	if p.SecretRef != nil {
		if cfg.Secret, err = r.secret(ctx, ns, p.SecretRef.Name); err != nil {
			return fail(err)
		}
		if cfg.Secret == nil {
			cfg.Secret = map[string][]byte{}
		}
	}
	prov, err := r.provider(cfg)
	if err != nil {
		return fail(err)
	}
	v, ok, err := prov.Value(ctx, providers.Query{Text: q, Interval: interval, Now: r.opts.Now()})
	if err != nil {
		return fail(fmt.Errorf("query %q: %w", q, err))
	}
	return judge.Observation{Metric: m.Name, HasValue: ok, Value: v, Samples: -1}, nil
}

// provider returns the cached provider for cfg, creating it on first use.
func (r *Resolver) provider(cfg providers.Config) (providers.Provider, error) {
	secret := make(map[string]string, len(cfg.Secret))
	for k, v := range cfg.Secret {
		secret[k] = string(v)
	}
	b, err := json.Marshal(struct {
		Type, Address, Region string
		Headers               map[string][]string
		Insecure, HasSecret   bool
		Secret                map[string]string
	}{cfg.Type, cfg.Address, cfg.Region, cfg.Headers, cfg.InsecureSkipVerify, cfg.Secret != nil, secret})
	if err != nil {
		return nil, fmt.Errorf("%s client key: %w", cfg.Type, err)
	}
	key := string(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.providers[key]; ok {
		return p, nil
	}
	p, err := providers.New(cfg)
	if err != nil {
		return nil, err
	}
	r.providers[key] = p
	return p, nil
}

// secret returns the data of the Secret a template's secretRef names.
func (r *Resolver) secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	if r.opts.Secrets == nil {
		return nil, fmt.Errorf("secret %s/%s: this runtime reads no Secrets: a template with a secretRef runs only under serin controller", namespace, name)
	}
	data, err := r.opts.Secrets(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	return data, nil
}

// credentials reads basic auth ("username", "password") or a bearer token
// ("token") from a Secret, as Flagger's Prometheus provider does.
func (r *Resolver) credentials(ctx context.Context, namespace, name string, cfg *prometheus.Config) error {
	data, err := r.secret(ctx, namespace, name)
	if err != nil {
		return err
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
