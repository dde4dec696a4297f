package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DatadogAddress is the datadog provider's address when the template
// sets none.
const DatadogAddress = "https://api.datadoghq.com"

// datadog runs metric queries through Datadog's GET /api/v1/query.
type datadog struct {
	api            *httpAPI
	apiKey, appKey string
}

func newDatadog(cfg Config) (*datadog, error) {
	addr := cfg.Address
	if addr == "" {
		addr = DatadogAddress
	}
	api, err := newHTTPAPI(cfg, addr)
	if err != nil {
		return nil, err
	}
	keys := []string{"datadog_api_key", "datadog_application_key"}
	d := &datadog{api: api}
	if d.apiKey, err = cfg.secret(keys[0], keys...); err != nil {
		return nil, err
	}
	if d.appKey, err = cfg.secret(keys[1], keys...); err != nil {
		return nil, err
	}
	return d, nil
}

// datadogReply is the reply of /api/v1/query.
type datadogReply struct {
	Status string   `json:"status"`
	Error  string   `json:"error"`
	Errors []string `json:"errors"`
	Series []struct {
		Metric    string          `json:"metric"`
		Scope     string          `json:"scope"`
		Pointlist [][2]*jsonFloat `json:"pointlist"`
	} `json:"series"`
}

func datadogError(body []byte) string {
	var r datadogReply
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	if len(r.Errors) > 0 {
		return strings.Join(r.Errors, "; ")
	}
	return r.Error
}

// Value runs q.Text over the ten intervals before q.Now, as Flagger does.
// The value is the first (oldest) non-null point of the one series, as
// Flagger takes it: the newest point is often an incomplete bucket. No
// series or no point is no data; several series an error.
func (d *datadog) Value(ctx context.Context, q Query) (float64, bool, error) {
	to := q.Now.Unix()
	from := to - int64(10*q.Interval.Seconds())
	params := url.Values{
		"query": {q.Text},
		"from":  {strconv.FormatInt(from, 10)},
		"to":    {strconv.FormatInt(to, 10)},
	}
	req, err := d.api.request(ctx, http.MethodGet, d.api.url("/api/v1/query", params), nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("DD-API-KEY", d.apiKey)
	req.Header.Set("DD-APPLICATION-KEY", d.appKey)
	req.Header.Set("Accept", "application/json")
	body, _, err := d.api.do(req, datadogError)
	if err != nil {
		return 0, false, err
	}
	var r datadogReply
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, false, d.api.malformed("want a JSON object with series", body, err)
	}
	if r.Status == "error" || r.Error != "" {
		msg := r.Error
		if strings.Contains(strings.ToLower(msg), "rate limit") {
			return 0, false, fmt.Errorf("%s: %w: %s", d.api.name, ErrThrottled, msg)
		}
		return 0, false, fmt.Errorf("%s: %w: %s", d.api.name, ErrRefused, msg)
	}
	switch len(r.Series) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the query returned %d series, want 1 (aggregate it, e.g. sum:metric{...})", d.api.name, len(r.Series))
	}
	for _, p := range r.Series[0].Pointlist {
		if p[1] == nil {
			continue
		}
		v := float64(*p[1])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		return v, true, nil
	}
	return 0, false, nil
}
