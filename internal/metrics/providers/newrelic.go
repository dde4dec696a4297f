package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The newrelic provider's addresses when the template sets none: the
// Insights query API (a query key) and NerdGraph (a user API key).
const (
	NewRelicInsightsAddress  = "https://insights-api.newrelic.com"
	NewRelicNerdGraphAddress = "https://api.newrelic.com/graphql"
)

// newRelic runs NRQL queries, with Flagger's Insights query key
// (GET /v1/accounts/<id>/query) or, when the Secret holds a user API key
// (newrelic_api_key), through NerdGraph (POST /graphql), New Relic's
// replacement for the Insights API.
type newRelic struct {
	api       *httpAPI
	account   string
	queryKey  string
	apiKey    string
	nerdGraph bool
}

func newNewRelic(cfg Config) (*newRelic, error) {
	keys := []string{"newrelic_account_id", "newrelic_query_key (or newrelic_api_key)"}
	account, err := cfg.secret("newrelic_account_id", keys...)
	if err != nil {
		return nil, err
	}
	if _, err := strconv.ParseUint(account, 10, 64); err != nil {
		return nil, fmt.Errorf("newrelic: newrelic_account_id %q is not a number", account)
	}
	n := &newRelic{account: account}
	addr := cfg.Address
	if k := cfg.Secret["newrelic_api_key"]; len(k) > 0 {
		n.apiKey, n.nerdGraph = string(k), true
		if addr == "" {
			addr = NewRelicNerdGraphAddress
		}
	} else {
		if n.queryKey, err = cfg.secret("newrelic_query_key", keys...); err != nil {
			return nil, err
		}
		if addr == "" {
			addr = NewRelicInsightsAddress
		}
	}
	if n.api, err = newHTTPAPI(cfg, addr); err != nil {
		return nil, err
	}
	return n, nil
}

// Value runs q.Text with "SINCE <interval> seconds ago" appended, as
// Flagger does. The reply must hold one result with one number (e.g.
// {"result": 1.5} or {"average": 12}); no result or a null is no data,
// several results or numbers an error.
func (n *newRelic) Value(ctx context.Context, q Query) (float64, bool, error) {
	nrql := fmt.Sprintf("%s SINCE %d seconds ago", strings.TrimSpace(q.Text), int64(q.Interval.Seconds()))
	var (
		req *http.Request
		err error
	)
	if n.nerdGraph {
		payload, merr := json.Marshal(map[string]any{
			"query":     `query($q: Nrql!) { actor { account(id: ` + n.account + `) { nrql(query: $q) { results } } } }`,
			"variables": map[string]string{"q": nrql},
		})
		if merr != nil {
			return 0, false, fmt.Errorf("%s: %w", n.api.name, merr)
		}
		req, err = n.api.request(ctx, http.MethodPost, n.api.url("", nil), bytes.NewReader(payload))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("API-Key", n.apiKey)
		}
	} else {
		req, err = n.api.request(ctx, http.MethodGet, n.api.url("/v1/accounts/"+n.account+"/query", url.Values{"nrql": {nrql}}), nil)
		if err == nil {
			req.Header.Set("X-Query-Key", n.queryKey)
		}
	}
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Accept", "application/json")
	body, _, err := n.api.do(req, newRelicError)
	if err != nil {
		return 0, false, err
	}
	var reply struct {
		Results []map[string]json.RawMessage `json:"results"`
		Errors  []struct {
			Message string `json:"message"`
		} `json:"errors"`
		Data struct {
			Actor struct {
				Account struct {
					NRQL *struct {
						Results []map[string]json.RawMessage `json:"results"`
					} `json:"nrql"`
				} `json:"account"`
			} `json:"actor"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return 0, false, n.api.malformed("want a JSON object with results", body, err)
	}
	results := reply.Results
	if n.nerdGraph {
		if len(reply.Errors) > 0 {
			msgs := make([]string, len(reply.Errors))
			for i, e := range reply.Errors {
				msgs[i] = e.Message
			}
			return 0, false, fmt.Errorf("%s: %w: %s", n.api.name, ErrRefused, strings.Join(msgs, "; "))
		}
		if reply.Data.Actor.Account.NRQL == nil {
			return 0, false, n.api.malformed("want data.actor.account.nrql.results", body, nil)
		}
		results = reply.Data.Actor.Account.NRQL.Results
	}
	switch len(results) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the query returned %d results, want 1", n.api.name, len(results))
	}
	return n.number(results[0], body)
}

// number returns the one number of a result, looking one level into an
// object such as {"percentile.duration": {"99": 0.3}}.
func (n *newRelic) number(result map[string]json.RawMessage, body []byte) (float64, bool, error) {
	type found struct {
		key string
		v   *float64
	}
	var nums []found
	keys := make([]string, 0, len(result))
	for k := range result {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := bytes.TrimSpace(result[k])
		if bytes.Equal(raw, []byte("null")) {
			nums = append(nums, found{key: k})
			continue
		}
		var f float64
		if json.Unmarshal(raw, &f) == nil {
			nums = append(nums, found{key: k, v: &f})
			continue
		}
		var inner map[string]*float64
		if json.Unmarshal(raw, &inner) == nil && len(inner) == 1 {
			for ik, iv := range inner {
				nums = append(nums, found{key: k + "." + ik, v: iv})
			}
		}
	}
	switch len(nums) {
	case 0:
		return 0, false, n.api.malformed("the result holds no number", body, nil)
	case 1:
	default:
		names := make([]string, len(nums))
		for i, f := range nums {
			names[i] = f.key
		}
		return 0, false, fmt.Errorf("%s: the result has %d values (%s), want 1", n.api.name, len(nums), strings.Join(names, ", "))
	}
	v := nums[0].v
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return 0, false, nil
	}
	return *v, true, nil
}

func newRelicError(body []byte) string {
	var e struct {
		Error  string `json:"error"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if e.Error != "" {
		return e.Error
	}
	if len(e.Errors) > 0 {
		return e.Errors[0].Message
	}
	return ""
}
