package demo

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// NewFrontend returns a reverse proxy that sends every request to upstream,
// as the walkthrough's nginx frontend does for podinfo.
func NewFrontend(upstream string) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("upstream: want an http(s) URL with a host, got %q", upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "frontend: upstream unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
	return rp, nil
}
