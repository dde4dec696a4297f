package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
)

// dynatrace runs metric selectors through Dynatrace's
// GET /api/v2/metrics/query.
type dynatrace struct {
	api   *httpAPI
	token string
}

func newDynatrace(cfg Config) (*dynatrace, error) {
	api, err := newHTTPAPI(cfg, cfg.Address)
	if err != nil {
		return nil, err
	}
	d := &dynatrace{api: api}
	if d.token, err = cfg.secret("dynatrace_token", "dynatrace_token"); err != nil {
		return nil, err
	}
	return d, nil
}

// Value runs the metric selector q.Text over the ten intervals before
// q.Now with resolution Inf (one value per series), as Flagger does. The
// value is the one series' first value; no series or a null value is no
// data, several series an error.
func (d *dynatrace) Value(ctx context.Context, q Query) (float64, bool, error) {
	to := q.Now.UnixMilli()
	from := to - 10*q.Interval.Milliseconds()
	params := url.Values{
		"metricSelector": {q.Text},
		"resolution":     {"Inf"},
		"from":           {strconv.FormatInt(from, 10)},
		"to":             {strconv.FormatInt(to, 10)},
	}
	req, err := d.api.request(ctx, http.MethodGet, d.api.url("/api/v2/metrics/query", params), nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Authorization", "Api-Token "+d.token)
	req.Header.Set("Accept", "application/json")
	body, _, err := d.api.do(req, dynatraceError)
	if err != nil {
		return 0, false, err
	}
	var reply struct {
		Result []struct {
			MetricID string `json:"metricId"`
			Data     []struct {
				Dimensions []string     `json:"dimensions"`
				Values     []*jsonFloat `json:"values"`
			} `json:"data"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return 0, false, d.api.malformed("want a JSON object with result", body, err)
	}
	switch len(reply.Result) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the selector returned %d metrics, want 1", d.api.name, len(reply.Result))
	}
	data := reply.Result[0].Data
	switch len(data) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the selector returned %d series, want 1 (aggregate it, e.g. with :splitBy())", d.api.name, len(data))
	}
	if len(data[0].Values) == 0 || data[0].Values[0] == nil {
		return 0, false, nil
	}
	v := float64(*data[0].Values[0])
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

func dynatraceError(body []byte) string {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Message
}
