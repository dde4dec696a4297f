package providers

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// cloudWatchStub answers GetMetricData in the protocol the AWS SDK speaks
// to CloudWatch (Smithy RPC v2 CBOR, query compatible) and keeps the
// decoded requests.
type cloudWatchStub struct {
	mu       sync.Mutex
	status   int
	header   map[string]string
	reply    cbor.Value
	requests []*http.Request
	inputs   []cbor.Map
}

func newCloudWatchStub(t *testing.T) (*cloudWatchStub, string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := &cloudWatchStub{status: http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in, _ := cbor.Decode(body)
		m, _ := in.(cbor.Map)
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.inputs = append(s.inputs, m)
		status, header, reply := s.status, s.header, s.reply
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write(cbor.Encode(reply))
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *cloudWatchStub) set(status int, header map[string]string, reply cbor.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.header, s.reply = status, header, reply
}

func metricDataResult(id, status string, values ...float64) cbor.Map {
	vs := cbor.List{}
	ts := cbor.List{}
	for i, v := range values {
		vs = append(vs, cbor.Float64(v))
		ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(1_700_000_600 - 60*i))})
	}
	return cbor.Map{"Id": cbor.String(id), "Label": cbor.String(id), "StatusCode": cbor.String(status), "Timestamps": ts, "Values": vs, "Messages": cbor.List{}}
}

const cloudWatchQuery = `[
  {"Id": "e1", "Expression": "m1 / m2", "Label": "ErrorRate"},
  {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "ErrorCount",
    "Dimensions": [{"Name": "appName", "Value": "podinfo.test"}]}, "Period": 60, "Stat": "Sum", "Unit": "Count"}, "ReturnData": false},
  {"Id": "m2", "MetricStat": {"Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "RequestCount",
    "Dimensions": [{"Name": "appName", "Value": "podinfo.test"}]}, "Period": 60, "Stat": "Sum", "Unit": "Count"}, "ReturnData": false}
]`

func TestCloudWatchRequest(t *testing.T) {
	s, addr := newCloudWatchStub(t)
	p := mustNew(t, Config{Type: "cloudwatch", Region: "ap-northeast-1", Address: addr, Headers: map[string][]string{"X-Team": {"payments"}}})
	s.set(http.StatusOK, nil, cbor.Map{"MetricDataResults": cbor.List{metricDataResult("e1", "Complete", 0.05, 0.5)}, "Messages": cbor.List{}})
	v, ok, err := p.Value(t.Context(), Query{Text: cloudWatchQuery, Interval: time.Minute, Now: now})
	if err != nil || !ok || v != 0.05 {
		t.Fatalf("Value() = %v, %v, %v, want the newest value 0.05", v, ok, err)
	}
	r, in := s.requests[0], s.inputs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData" {
		t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/ap-northeast-1/monitoring/aws4_request") {
		t.Errorf("Authorization = %q, want SigV4 for monitoring in ap-northeast-1", auth)
	}
	if r.Header.Get("X-Team") != "payments" {
		t.Errorf("headers = %v", r.Header)
	}
	start, _ := in["StartTime"].(*cbor.Tag)
	end, _ := in["EndTime"].(*cbor.Tag)
	if start == nil || end == nil || float64(start.Value.(cbor.Float64)) != 1_700_000_000 || float64(end.Value.(cbor.Float64)) != 1_700_000_600 {
		t.Errorf("StartTime, EndTime = %v, %v, want ten intervals back to now", in["StartTime"], in["EndTime"])
	}
	if in["MaxDatapoints"] != cbor.Uint(20) {
		t.Errorf("MaxDatapoints = %v", in["MaxDatapoints"])
	}
	qs, _ := in["MetricDataQueries"].(cbor.List)
	if len(qs) != 3 {
		t.Fatalf("MetricDataQueries = %v", in["MetricDataQueries"])
	}
	m1 := qs[1].(cbor.Map)
	stat := m1["MetricStat"].(cbor.Map)
	metric := stat["Metric"].(cbor.Map)
	if m1["Id"] != cbor.String("m1") || m1["ReturnData"] != cbor.Bool(false) || stat["Period"] != cbor.Uint(60) ||
		stat["Stat"] != cbor.String("Sum") || stat["Unit"] != cbor.String("Count") || metric["MetricName"] != cbor.String("ErrorCount") {
		t.Errorf("query m1 = %v", m1)
	}
}

func TestCloudWatchReplies(t *testing.T) {
	s, addr := newCloudWatchStub(t)
	p := mustNew(t, Config{Type: "cloudwatch", Region: "eu-west-1", Address: addr})
	apiErr := func(status int, typ, query string) func() {
		return func() {
			s.set(status, map[string]string{"X-Amzn-Query-Error": query}, cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + typ), "message": cbor.String(typ + " happened")})
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func()
		want    float64
		wantOK  bool
		wantErr error
		wantMsg string
	}{
		{name: "no values is no data", setup: func() {
			s.set(200, nil, cbor.Map{"MetricDataResults": cbor.List{metricDataResult("e1", "Complete")}})
		}},
		{name: "no results is no data", setup: func() { s.set(200, nil, cbor.Map{"MetricDataResults": cbor.List{}}) }},
		{name: "a result refused", setup: func() {
			s.set(200, nil, cbor.Map{"MetricDataResults": cbor.List{metricDataResult("e1", "Forbidden")}})
		}, wantErr: ErrCredentials},
		{name: "throttled", setup: apiErr(400, "LimitExceededException", "Throttling;Sender"), wantErr: ErrThrottled, wantMsg: "Throttling"},
		{name: "bad credentials", setup: apiErr(403, "AccessDeniedException", "AccessDenied;Sender"), wantErr: ErrCredentials},
		{name: "bad query", setup: apiErr(400, "InvalidParameterValueException", "InvalidParameterValue;Sender"), wantErr: ErrRefused, wantMsg: "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			v, ok, err := p.Value(t.Context(), Query{Text: cloudWatchQuery, Interval: time.Minute, Now: now})
			if tc.wantErr != nil {
				if err == nil || !errors.Is(err, tc.wantErr) || !contains(err, tc.wantMsg) {
					t.Fatalf("Value() error = %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil || ok != tc.wantOK || v != tc.want {
				t.Fatalf("Value() = %v, %v, %v", v, ok, err)
			}
		})
	}
	if _, _, err := p.Value(t.Context(), Query{Text: `{"Id": "m1"}`, Interval: time.Minute, Now: now}); err == nil || !contains(err, "JSON list of MetricDataQuery") {
		t.Errorf("a query that is not a list: %v", err)
	}
	if _, err := New(Config{Type: "cloudwatch"}); err == nil || !contains(err, "region") {
		t.Errorf("no region: %v", err)
	}
}
