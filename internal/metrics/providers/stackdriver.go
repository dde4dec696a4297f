package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// StackdriverAddress is the Cloud Monitoring API, the stackdriver
// provider's address when the template sets none.
const StackdriverAddress = "https://monitoring.googleapis.com"

// monitoringReadScope is the OAuth scope the queries need.
const monitoringReadScope = "https://www.googleapis.com/auth/monitoring.read"

// stackdriver runs MQL queries through Cloud Monitoring's
// projects.timeSeries.query (POST /v3/projects/<project>/timeSeries:query),
// as Flagger's gRPC QueryTimeSeries call does.
type stackdriver struct {
	api     *httpAPI
	project string
	key     []byte // the service account key, or nil for the default credentials

	mu     sync.Mutex
	tokens oauth2.TokenSource
}

func newStackdriver(cfg Config) (*stackdriver, error) {
	addr := cfg.Address
	if addr == "" {
		addr = StackdriverAddress
	}
	api, err := newHTTPAPI(cfg, addr)
	if err != nil {
		return nil, err
	}
	s := &stackdriver{api: api}
	if s.project, err = cfg.secret("project", "project", "serviceAccountKey (optional)"); err != nil {
		return nil, err
	}
	if k := cfg.Secret["serviceAccountKey"]; len(k) > 0 {
		s.key = k
		// Fail on a key that cannot be read now, not at the first query.
		if _, err := google.CredentialsFromJSONWithType(context.Background(), k, google.ServiceAccount, monitoringReadScope); err != nil {
			return nil, fmt.Errorf("stackdriver: serviceAccountKey: %w", err)
		}
	}
	return s, nil
}

// tokenSource returns the OAuth token source: the service account key of
// the Secret, else Google's default credentials (Workload Identity, the
// metadata server, GOOGLE_APPLICATION_CREDENTIALS). The tokens are cached
// until they expire.
func (s *stackdriver) tokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens != nil {
		return s.tokens, nil
	}
	// The token source outlives this query: it must not keep its context.
	bg := context.WithoutCancel(ctx)
	bg = context.WithValue(bg, oauth2.HTTPClient, s.api.client)
	var (
		creds *google.Credentials
		err   error
	)
	if s.key != nil {
		creds, err = google.CredentialsFromJSONWithType(bg, s.key, google.ServiceAccount, monitoringReadScope)
	} else {
		creds, err = google.FindDefaultCredentials(bg, monitoringReadScope)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", s.api.name, ErrCredentials, err)
	}
	s.tokens = oauth2.ReuseTokenSource(nil, creds.TokenSource)
	return s.tokens, nil
}

// Value runs the MQL query q.Text. The value is the first value of the
// first (newest) point of the one time series; no series or no point is
// no data, several series an error.
func (s *stackdriver) Value(ctx context.Context, q Query) (float64, bool, error) {
	ts, err := s.tokenSource(ctx)
	if err != nil {
		return 0, false, err
	}
	tok, err := ts.Token()
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w: get an access token: %v", s.api.name, ErrCredentials, err)
	}
	payload, err := json.Marshal(map[string]string{"query": q.Text})
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", s.api.name, err)
	}
	req, err := s.api.request(ctx, http.MethodPost, s.api.url("/v3/projects/"+s.project+"/timeSeries:query", nil), bytes.NewReader(payload))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	tok.SetAuthHeader(req)
	body, _, err := s.api.do(req, googleError)
	if err != nil {
		return 0, false, err
	}
	var reply struct {
		TimeSeriesData []struct {
			PointData []struct {
				Values []struct {
					DoubleValue *jsonFloat `json:"doubleValue"`
					Int64Value  *string    `json:"int64Value"`
				} `json:"values"`
			} `json:"pointData"`
		} `json:"timeSeriesData"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return 0, false, s.api.malformed("want a JSON object with timeSeriesData", body, err)
	}
	switch len(reply.TimeSeriesData) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("%s: the query returned %d time series, want 1 (aggregate it, e.g. with group_by [])", s.api.name, len(reply.TimeSeriesData))
	}
	points := reply.TimeSeriesData[0].PointData
	if len(points) == 0 || len(points[0].Values) == 0 {
		return 0, false, nil
	}
	val := points[0].Values[0]
	var v float64
	switch {
	case val.DoubleValue != nil:
		v = float64(*val.DoubleValue)
	case val.Int64Value != nil:
		n, err := strconv.ParseInt(*val.Int64Value, 10, 64)
		if err != nil {
			return 0, false, s.api.malformed("int64Value", body, err)
		}
		v = float64(n)
	default:
		return 0, false, s.api.malformed("the point's value is neither a double nor an int64", body, nil)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

// googleError reads the message of a Google API error reply.
func googleError(body []byte) string {
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Status + ": " + e.Error.Message
}
