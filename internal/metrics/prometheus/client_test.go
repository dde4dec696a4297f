package prometheus

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// replay is a Prometheus API stand-in: it answers /api/v1/query with the
// reply registered for the query, and records what it was asked.
type replay struct {
	mu       sync.Mutex
	replies  map[string]reply
	fallback *reply
	asked    []string
	times    []string // the time parameter of each query
	headers  []http.Header
}

type reply struct {
	status int
	body   string
}

func newReplay(t *testing.T) (*replay, *httptest.Server) {
	t.Helper()
	r := &replay{replies: map[string]reply{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *replay) set(query string, status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies[query] = reply{status: status, body: body}
}

func (r *replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/api/v1/query" {
		http.NotFound(w, req)
		return
	}
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := req.Form.Get("query")
	r.mu.Lock()
	r.asked = append(r.asked, q)
	r.times = append(r.times, req.Form.Get("time"))
	r.headers = append(r.headers, req.Header.Clone())
	rep, ok := r.replies[q]
	if !ok && r.fallback != nil {
		rep, ok = *r.fallback, true
	}
	r.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"unexpected query %q"}`, q)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	fmt.Fprint(w, rep.body)
}

func vectorJSON(samples ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}}`
}

func sampleJSON(labels, value string) string {
	return `{"metric":{` + labels + `},"value":[1700000000.123,"` + value + `"]}`
}

func TestClientValue(t *testing.T) {
	const q = `sum(rate(x[1m]))`
	tests := []struct {
		name    string
		status  int
		body    string
		want    float64
		wantOK  bool
		wantErr string
	}{
		{name: "one sample", status: 200, body: vectorJSON(sampleJSON(``, "99.5")), want: 99.5, wantOK: true},
		{name: "scalar", status: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`, want: 42, wantOK: true},
		{name: "zero is a value", status: 200, body: vectorJSON(sampleJSON(``, "0")), want: 0, wantOK: true},
		{name: "empty vector is no data", status: 200, body: vectorJSON()},
		{name: "NaN is no data", status: 200, body: vectorJSON(sampleJSON(``, "NaN"))},
		{name: "+Inf is no data", status: 200, body: vectorJSON(sampleJSON(``, "+Inf"))},
		{name: "-Inf is no data", status: 200, body: vectorJSON(sampleJSON(``, "-Inf"))},
		{name: "scalar NaN is no data", status: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}`},
		{name: "several series", status: 200,
			body:    vectorJSON(sampleJSON(`"deployment":"a"`, "1"), sampleJSON(`"deployment":"b"`, "2")),
			wantErr: `returned 2 series, want 1`},
		{name: "matrix", status: 200,
			body:    `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"],[1700000001,"2"]]}]}}`,
			wantErr: "returned a matrix, want a vector or a scalar"},
		{name: "string", status: 200,
			body:    `{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}`,
			wantErr: "string"},
		{name: "bad JSON", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[`, wantErr: "query"},
		{name: "not JSON at all", status: 200, body: `<html>proxy error</html>`, wantErr: "query"},
		{name: "error status", status: 400,
			body:    `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`,
			wantErr: "parse error: unexpected end of input"},
		{name: "server error", status: 503, body: `overloaded`, wantErr: "503"},
		// Found by FuzzQueryReply: read as an empty result, i.e. no data.
		{name: "error status, JSON body but no error", status: 400, body: `{"data":{"resultType":"vector","result":[]}}`, wantErr: "status 400 without a Prometheus error"},
		{name: "bad sample value", status: 200, body: vectorJSON(sampleJSON(``, "not-a-number")), wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, srv := newReplay(t)
			rep.set(q, tt.status, tt.body)
			c, err := NewClient(Config{Address: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			v, ok, err := c.Value(context.Background(), q, time.Unix(1700000000, 0))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Value() = %v, %v, want an error containing %q", v, ok, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), q) {
					t.Fatalf("Value() error = %q, want it to contain %q and name the query", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Value() error = %v", err)
			}
			if ok != tt.wantOK || v != tt.want {
				t.Errorf("Value() = %v, %v, want %v, %v", v, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestClientVectorRejectsScalar(t *testing.T) {
	rep, srv := newReplay(t)
	rep.set("q", 200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`)
	c, err := NewClient(Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Vector(context.Background(), "q", time.Now()); err == nil || !strings.Contains(err.Error(), "want a vector") {
		t.Fatalf("Vector() error = %v, want a type error", err)
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c, err := NewClient(Config{Address: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = c.Value(context.Background(), "up", time.Now())
	if err == nil || !strings.Contains(err.Error(), `"up"`) {
		t.Fatalf("Value() error = %v, want a timeout naming the query", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("query took %v, want it cut off near the 50ms timeout", d)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, err := NewClient(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Value(context.Background(), "up", time.Now())
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Value() error = %v, want a connection error naming %s", err, addr)
	}
}

func TestClientCredentials(t *testing.T) {
	body := vectorJSON(sampleJSON(``, "1"))
	tests := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, h http.Header)
	}{
		{
			name: "headers",
			cfg:  Config{Headers: map[string][]string{"X-Scope-OrgID": {"tenant-a"}}},
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("X-Scope-OrgID"); got != "tenant-a" {
					t.Errorf("X-Scope-OrgID = %q", got)
				}
			},
		},
		{
			name: "basic auth",
			cfg:  Config{Username: "u", Password: "p"},
			check: func(t *testing.T, h http.Header) {
				r := &http.Request{Header: h}
				u, p, ok := r.BasicAuth()
				if !ok || u != "u" || p != "p" {
					t.Errorf("basic auth = %q, %q, %v", u, p, ok)
				}
			},
		},
		{
			name: "bearer token",
			cfg:  Config{BearerToken: "tok"},
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Authorization"); got != "Bearer tok" {
					t.Errorf("Authorization = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, srv := newReplay(t)
			rep.set("up", 200, body)
			cfg := tt.cfg
			cfg.Address = srv.URL
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Value(context.Background(), "up", time.Now()); err != nil {
				t.Fatal(err)
			}
			tt.check(t, rep.headers[0])
		})
	}
}

func TestClientInsecureSkipVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, vectorJSON(sampleJSON(``, "7")))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)

	strict, err := NewClient(Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := strict.Value(context.Background(), "up", time.Now()); err == nil {
		t.Fatal("a self-signed certificate must fail without insecureSkipVerify")
	}
	lax, err := NewClient(Config{Address: srv.URL, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := lax.Value(context.Background(), "up", time.Now()); err != nil || !ok || v != 7 {
		t.Fatalf("Value() = %v, %v, %v, want 7", v, ok, err)
	}
}

func TestNewClientNeedsAddress(t *testing.T) {
	if _, err := NewClient(Config{}); err == nil {
		t.Fatal("NewClient with no address must fail")
	}
}
