package providers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// googleStub is Cloud Monitoring and Google's OAuth token endpoint: it
// checks the service account's signed assertion and hands out a token.
func googleStub(t *testing.T) (*stub, *httptest.Server, []byte, *atomic.Int32) {
	t.Helper()
	s := &stub{reply: reply{status: http.StatusOK}}
	var tokens atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
			len(strings.Split(r.Form.Get("assertion"), ".")) != 3 {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"ya29.test-token","token_type":"Bearer","expires_in":3600}`))
	})
	mux.Handle("/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})
	sa, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "my-project",
		"private_key_id": "key-1",
		"private_key":    string(pemKey),
		"client_email":   "serin@my-project.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      srv.URL + "/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv, sa, &tokens
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestStackdriverRequest(t *testing.T) {
	s, srv, sa, tokens := googleStub(t)
	p := mustNew(t, Config{Type: "stackdriver", Address: srv.URL, Secret: map[string][]byte{"project": []byte("my-project"), "serviceAccountKey": sa}})
	s.set(reply{body: `{}`})
	const q = "fetch k8s_container | metric 'istio.io/service/server/response_latencies' | every 1m"
	for range 2 {
		if _, _, err := p.Value(t.Context(), Query{Text: q, Interval: time.Minute, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	r := s.last(t)
	if r.method != http.MethodPost || r.path != "/v3/projects/my-project/timeSeries:query" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	if got := r.header.Get("Authorization"); got != "Bearer ya29.test-token" {
		t.Errorf("Authorization = %q", got)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["query"] != q || len(body) != 1 {
		t.Errorf("body = %s", r.body)
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d tokens fetched for two queries, want 1 (cached)", n)
	}
}

func TestStackdriverSecret(t *testing.T) {
	if _, err := New(Config{Type: "stackdriver", Secret: secret("serviceAccountKey", "{}")}); err == nil || !contains(err, `no key "project"`) {
		t.Errorf("no project: %v", err)
	}
	if _, err := New(Config{Type: "stackdriver", Secret: secret("project", "p", "serviceAccountKey", "not json")}); err == nil || !contains(err, "serviceAccountKey") {
		t.Errorf("a key that is not JSON: %v", err)
	}
	p, err := New(Config{Type: "stackdriver", Secret: secret("project", "p")})
	if err != nil || p.(*stackdriver).api.base.String() != StackdriverAddress {
		t.Errorf("default address: %v", err)
	}
}

func TestStackdriverReplies(t *testing.T) {
	s, srv, sa, _ := googleStub(t)
	p := mustNew(t, Config{Type: "stackdriver", Address: srv.URL, Secret: map[string][]byte{"project": []byte("p"), "serviceAccountKey": sa}})
	series := func(data string) string {
		return `{"timeSeriesDescriptor":{"pointDescriptors":[{"key":"value_response_latencies_percentile","valueType":"DOUBLE","metricKind":"GAUGE"}]},` +
			`"timeSeriesData":` + data + `}`
	}
	point := func(value string) string {
		return `{"values":[` + value + `],"timeInterval":{"startTime":"2023-11-14T22:12:20Z","endTime":"2023-11-14T22:13:20Z"}}`
	}
	checkReplies(t, s, p, Query{Text: "q", Interval: time.Minute, Now: now}, []replyCase{
		{name: "the newest point", reply: reply{body: series(`[{"labelValues":[],"pointData":[` + point(`{"doubleValue":12.5}`) + `,` + point(`{"doubleValue":9}`) + `]}]`)}, want: 12.5, wantOK: true},
		{name: "int64", reply: reply{body: series(`[{"pointData":[` + point(`{"int64Value":"42"}`) + `]}]`)}, want: 42, wantOK: true},
		{name: "no series is no data", reply: reply{body: `{"timeSeriesDescriptor":{}}`}},
		{name: "no point is no data", reply: reply{body: series(`[{"pointData":[]}]`)}},
		{name: "several series", reply: reply{body: series(`[{"pointData":[` + point(`{"doubleValue":1}`) + `]},{"pointData":[` + point(`{"doubleValue":2}`) + `]}]`)}, wantMsg: "returned 2 time series"},
		{name: "a distribution", reply: reply{body: series(`[{"pointData":[` + point(`{"distributionValue":{"count":"3"}}`) + `]}]`)}, wantErr: ErrMalformed},
		{name: "bad MQL", reply: reply{status: 400, body: `{"error":{"code":400,"message":"Line 1, column 1: unknown table","status":"INVALID_ARGUMENT"}}`}, wantErr: ErrRefused, wantMsg: "INVALID_ARGUMENT: Line 1"},
		{name: "no permission", reply: reply{status: 403, body: `{"error":{"code":403,"message":"Permission monitoring.timeSeries.list denied","status":"PERMISSION_DENIED"}}`}, wantErr: ErrCredentials},
		{name: "quota", reply: reply{status: 429, body: `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}`}, wantErr: ErrThrottled, wantMsg: "RESOURCE_EXHAUSTED"},
	})
}

func TestStackdriverTokenRefused(t *testing.T) {
	_, srv, sa, _ := googleStub(t)
	var key map[string]string
	_ = json.Unmarshal(sa, &key)
	key["token_uri"] = srv.URL + "/nope"
	bad, _ := json.Marshal(key)
	p := mustNew(t, Config{Type: "stackdriver", Address: srv.URL, Secret: map[string][]byte{"project": []byte("p"), "serviceAccountKey": bad}})
	_, _, err := p.Value(t.Context(), Query{Text: "q", Interval: time.Minute, Now: now})
	if err == nil || !contains(err, "access token") || !errors.Is(err, ErrCredentials) {
		t.Fatalf("Value() error = %v, want a failure to get a token", err)
	}
}
