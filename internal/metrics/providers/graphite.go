package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// graphite runs Graphite render API queries (GET /render?<query>&format=json).
type graphite struct {
	api                *httpAPI
	username, password string
}

func newGraphite(cfg Config) (*graphite, error) {
	api, err := newHTTPAPI(cfg, cfg.Address)
	if err != nil {
		return nil, err
	}
	g := &graphite{api: api}
	if cfg.Secret != nil {
		// Flagger's key names: basic auth.
		if g.username, err = cfg.secret("username", "username", "password"); err != nil {
			return nil, err
		}
		if g.password, err = cfg.secret("password", "username", "password"); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// graphiteSeries is one series of a render reply: datapoints are
// [value, timestamp] pairs, value null where the series has no point.
type graphiteSeries struct {
	Target     string          `json:"target"`
	Datapoints [][2]*jsonFloat `json:"datapoints"`
}

// Value runs the render query q.Text, the parameters of /render as
// Flagger's templates write them (target=...&from=-5min), white space
// collapsed. The value is the last non-null point of the one series that
// has points; no such point is no data, several such series an error.
func (g *graphite) Value(ctx context.Context, q Query) (float64, bool, error) {
	params, err := url.ParseQuery(collapseSpace(q.Text))
	if err != nil {
		return 0, false, fmt.Errorf("%s: the query is not URL parameters (target=...&from=...): %w", g.api.name, err)
	}
	if len(params["target"]) == 0 {
		return 0, false, fmt.Errorf("%s: the query has no target= parameter", g.api.name)
	}
	params.Set("format", "json")
	req, err := g.api.request(ctx, http.MethodGet, g.api.url("/render", params), nil)
	if err != nil {
		return 0, false, err
	}
	if g.username != "" {
		req.SetBasicAuth(g.username, g.password)
	}
	body, _, err := g.api.do(req, nil)
	if err != nil {
		return 0, false, err
	}
	var series []graphiteSeries
	if err := json.Unmarshal(body, &series); err != nil {
		return 0, false, g.api.malformed("want a JSON list of series", body, err)
	}
	var (
		value   float64
		found   bool
		targets []string
	)
	for _, s := range series {
		last := -1
		for i, p := range s.Datapoints {
			if p[0] != nil {
				last = i
			}
		}
		if last < 0 {
			continue
		}
		targets = append(targets, s.Target)
		value, found = float64(*s.Datapoints[last][0]), true
	}
	if len(targets) > 1 {
		return 0, false, fmt.Errorf("%s: the query returned %d series with points (%q), want 1 (combine them, e.g. with sumSeries)", g.api.name, len(targets), targets)
	}
	return value, found, nil
}
