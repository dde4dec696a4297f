package providers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// maxReply bounds the size of a reply read into memory.
const maxReply = 16 << 20

// httpAPI is the HTTP plumbing the providers share: one connection pool
// per provider, the template's headers, TLS verification, the timeout,
// and errors that say what went wrong.
type httpAPI struct {
	// name is the provider and its address, e.g. "datadog
	// https://api.datadoghq.com", the start of every error.
	name    string
	base    *url.URL
	client  *http.Client
	headers map[string][]string
	timeout time.Duration
}

func newHTTPAPI(cfg Config, address string) (*httpAPI, error) {
	if address == "" {
		return nil, fmt.Errorf("%s needs spec.provider.address", cfg.Type)
	}
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: spec.provider.address %q is not an http(s) URL", cfg.Type, address)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Transport != nil {
		transport = cfg.Transport()
	}
	if cfg.InsecureSkipVerify {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the MetricTemplate
	}
	return &httpAPI{
		name:    cfg.Type + " " + address,
		base:    u,
		client:  &http.Client{Transport: transport},
		headers: cfg.Headers,
		timeout: cfg.timeout(),
	}, nil
}

// url returns the address joined with path and query.
func (h *httpAPI) url(path string, query url.Values) string {
	u := *h.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return u.String()
}

// request returns a request carrying the template's headers; the caller
// adds its credentials, which win over a header of the same name.
func (h *httpAPI) request(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.name, err)
	}
	for k, vs := range h.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

// do sends req with the timeout and returns the body of a 2xx reply. Any
// other status is an error wrapping ErrCredentials (401, 403),
// ErrThrottled (429) or ErrRefused, with detail(body) (or the body
// itself) as its reason.
func (h *httpAPI) do(req *http.Request, detail func([]byte) string) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(req.Context(), h.timeout)
	defer cancel()
	resp, err := h.client.Do(req.WithContext(ctx))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("%s: no reply within %s: %w", h.name, h.timeout, err)
		}
		return nil, nil, fmt.Errorf("%s: %w", h.name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read reply: %w", h.name, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, resp.Header, nil
	}
	reason := ""
	if detail != nil {
		reason = detail(body)
	}
	if reason == "" {
		reason = excerpt(body)
	}
	return nil, resp.Header, h.statusError(resp.StatusCode, resp.Header, reason)
}

func (h *httpAPI) statusError(code int, header http.Header, reason string) error {
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	if reason != "" {
		status += ": " + reason
	}
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %w: %s", h.name, ErrCredentials, status)
	case http.StatusTooManyRequests:
		if ra := header.Get("Retry-After"); ra != "" {
			status += " (retry after " + ra + ")"
		}
		return fmt.Errorf("%s: %w: %s", h.name, ErrThrottled, status)
	}
	return fmt.Errorf("%s: %w: %s", h.name, ErrRefused, status)
}

// malformed returns an ErrMalformed error naming what was expected.
func (h *httpAPI) malformed(what string, body []byte, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w: %s: %v: %s", h.name, ErrMalformed, what, err, excerpt(body))
	}
	return fmt.Errorf("%s: %w: %s: %s", h.name, ErrMalformed, what, excerpt(body))
}

// excerpt returns the start of a reply, on one line, for an error.
func excerpt(body []byte) string {
	const max = 300
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// collapseSpace turns every run of white space into one space and trims
// the ends, as Flagger does with Graphite queries written on many lines.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
