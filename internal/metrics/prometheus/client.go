package prometheus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// DefaultTimeout bounds one query when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config says how to reach a Prometheus server.
type Config struct {
	// Address of the server, e.g. "http://prometheus.linkerd-viz:9090".
	Address string
	// Headers are added to every request.
	Headers map[string][]string
	// Username and Password, when Username is set, are sent as basic auth.
	Username string
	Password string
	// BearerToken, when set, is sent as an Authorization bearer token.
	BearerToken string
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool
	// Timeout of one query; DefaultTimeout when zero.
	Timeout time.Duration
	// Transport returns the transport to send queries with; a clone of
	// http.DefaultTransport when nil. The local runtime's resolves
	// Kubernetes Service names.
	Transport func() *http.Transport `json:"-"`
}

// Client runs instant queries against one Prometheus server.
type Client struct {
	api     v1.API
	address string
	timeout time.Duration
}

// NewClient returns a client for cfg. It does not contact the server.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("prometheus address is empty")
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Transport != nil {
		base = cfg.Transport()
	}
	if cfg.InsecureSkipVerify {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the MetricTemplate
	}
	c, err := api.NewClient(api.Config{
		Address:      cfg.Address,
		RoundTripper: &authTransport{next: base, cfg: cfg},
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", cfg.Address, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{api: v1.NewAPI(strictClient{c}), address: cfg.Address, timeout: timeout}, nil
}

// strictClient makes an error of a reply that client_golang's v1 API
// would read as data: a 400 or 422 (the statuses Prometheus sends with
// its errors) whose body is JSON but not a Prometheus error, e.g. `{}`
// from a proxy in front of it. The v1 API reads such a reply as an empty
// result, which a caller would take for "no data".
type strictClient struct{ api.Client }

func (c strictClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err != nil || (resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity) {
		return resp, body, err
	}
	var reply struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &reply) == nil && reply.Status == "error" {
		return resp, body, nil
	}
	return resp, body, fmt.Errorf("status %d without a Prometheus error in the body: %.200q", resp.StatusCode, body)
}

// Address is the server's address.
func (c *Client) Address() string { return c.address }

// Value runs query at ts and returns its single value. ok is false when
// there is no data: an empty vector, or a value that is NaN or ±Inf (a
// ratio of zero rates). Several series or a reply that is neither a vector
// nor a scalar is an error naming the query.
func (c *Client) Value(ctx context.Context, query string, ts time.Time) (v float64, ok bool, err error) {
	val, err := c.query(ctx, query, ts)
	if err != nil {
		return 0, false, err
	}
	switch r := val.(type) {
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, false, nil
		case 1:
			v = float64(r[0].Value)
		default:
			return 0, false, fmt.Errorf("prometheus %s: query %q returned %d series, want 1 (aggregate it, e.g. with sum)", c.address, query, len(r))
		}
	case *model.Scalar:
		v = float64(r.Value)
	default:
		return 0, false, fmt.Errorf("prometheus %s: query %q returned a %s, want a vector or a scalar", c.address, query, val.Type())
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

// Vector runs query at ts and returns its samples; any other reply type is
// an error naming the query.
func (c *Client) Vector(ctx context.Context, query string, ts time.Time) (model.Vector, error) {
	val, err := c.query(ctx, query, ts)
	if err != nil {
		return nil, err
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus %s: query %q returned a %s, want a vector", c.address, query, val.Type())
	}
	return vec, nil
}

func (c *Client) query(ctx context.Context, query string, ts time.Time) (model.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	val, _, err := c.api.Query(ctx, query, ts, v1.WithTimeout(c.timeout))
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: query %q: %w", c.address, query, err)
	}
	if val == nil {
		return nil, fmt.Errorf("prometheus %s: query %q: empty reply", c.address, query)
	}
	return val, nil
}

// authTransport adds the configured headers and credentials to requests.
type authTransport struct {
	next http.RoundTripper
	cfg  Config
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.cfg.Headers) == 0 && t.cfg.Username == "" && t.cfg.BearerToken == "" {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, vs := range t.cfg.Headers {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	switch {
	case t.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+t.cfg.BearerToken)
	case t.cfg.Username != "":
		req.SetBasicAuth(t.cfg.Username, t.cfg.Password)
	}
	return t.next.RoundTrip(req)
}
