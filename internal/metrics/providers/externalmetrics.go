package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
)

// ExternalMetricsQueryFormat is the form of an externalmetrics query, as
// Flagger's.
const ExternalMetricsQueryFormat = "[<namespace>/]<metric>[?labelSelector=<selector>]"

// externalMetrics reads a metric of the Kubernetes external metrics API
// (external.metrics.k8s.io/v1beta1, served by KEDA, Datadog's cluster
// agent, prometheus-adapter...): from the cluster serin runs on, or from
// the API server at the template's address with the Secret's token.
type externalMetrics struct {
	api   *httpAPI
	token string
}

func newExternalMetrics(cfg Config) (*externalMetrics, error) {
	if cfg.Address == "" {
		if cfg.KubeConfig == nil {
			return nil, errors.New("externalmetrics without spec.provider.address reads the cluster's external metrics API: it runs only under serin controller")
		}
		return externalMetricsFromKube(cfg)
	}
	api, err := newHTTPAPI(cfg, cfg.Address)
	if err != nil {
		return nil, err
	}
	e := &externalMetrics{api: api}
	if t := cfg.Secret["token"]; len(t) > 0 {
		e.token = string(t)
	}
	return e, nil
}

// externalMetricsFromKube talks to the API server of cfg.KubeConfig with
// its credentials; insecureSkipVerify and a Secret's token override them,
// as in Flagger.
func externalMetricsFromKube(cfg Config) (*externalMetrics, error) {
	rc := rest.CopyConfig(cfg.KubeConfig)
	if cfg.InsecureSkipVerify {
		rc.Insecure, rc.CAData, rc.CAFile = true, nil, ""
	}
	if t := cfg.Secret["token"]; len(t) > 0 {
		rc.BearerToken, rc.BearerTokenFile = string(t), ""
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("externalmetrics: client for the API server: %w", err)
	}
	host := rc.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	api, err := newHTTPAPI(Config{Type: cfg.Type, Headers: cfg.Headers, Timeout: cfg.Timeout}, host)
	if err != nil {
		return nil, err
	}
	api.client = hc
	return &externalMetrics{api: api}, nil
}

// Value reads the metric of q.Text (see ExternalMetricsQueryFormat; the
// namespace defaults to "default"). The value is the first item's; no
// item is no data.
func (e *externalMetrics) Value(ctx context.Context, q Query) (float64, bool, error) {
	ns, metric, selector, err := parseExternalMetricsQuery(q.Text)
	if err != nil {
		return 0, false, err
	}
	params := url.Values{}
	if selector != "" {
		params.Set("labelSelector", selector)
	}
	path := "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + url.PathEscape(ns) + "/" + url.PathEscape(metric)
	req, err := e.api.request(ctx, http.MethodGet, e.api.url(path, params), nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Accept", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	body, _, err := e.api.do(req, kubeStatusError)
	if err != nil {
		return 0, false, err
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			MetricName string            `json:"metricName"`
			Value      resource.Quantity `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, false, e.api.malformed("want an ExternalMetricValueList", body, err)
	}
	if len(list.Items) == 0 {
		return 0, false, nil
	}
	v := list.Items[0].Value.AsApproximateFloat64()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

func parseExternalMetricsQuery(query string) (ns, metric, selector string, err error) {
	query = strings.TrimSpace(query)
	path, rawQuery, _ := strings.Cut(query, "?")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	ns = "default"
	switch len(parts) {
	case 1:
		metric = parts[0]
	case 2:
		if parts[0] != "" {
			ns = parts[0]
		}
		metric = parts[1]
	default:
		return "", "", "", fmt.Errorf("externalmetrics query %q: want %s", query, ExternalMetricsQueryFormat)
	}
	if metric == "" {
		return "", "", "", fmt.Errorf("externalmetrics query %q: no metric name; want %s", query, ExternalMetricsQueryFormat)
	}
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", "", "", fmt.Errorf("externalmetrics query %q: %w", query, err)
	}
	selector = params.Get("labelSelector")
	if selector != "" {
		if _, err := labels.Parse(selector); err != nil {
			return "", "", "", fmt.Errorf("externalmetrics query %q: labelSelector: %w", query, err)
		}
	}
	return ns, metric, selector, nil
}

// kubeStatusError reads the message of a Kubernetes Status reply.
func kubeStatusError(body []byte) string {
	var s struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &s) != nil {
		return ""
	}
	return s.Message
}
