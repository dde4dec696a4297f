package providers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// now is the time queries are evaluated at in the tests.
var now = time.Unix(1_700_000_600, 0)

// stub is a provider API stand-in: it answers every request with the
// reply set last and records the requests.
type stub struct {
	mu       sync.Mutex
	reply    reply
	requests []recorded
}

type reply struct {
	status int
	header map[string]string
	body   string
}

// recorded is a request as the server saw it.
type recorded struct {
	method, path string
	query        map[string][]string
	header       http.Header
	body         string
}

func newStub(t *testing.T) (*stub, *httptest.Server) {
	t.Helper()
	s := &stub{reply: reply{status: http.StatusOK}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *stub) set(r reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.status == 0 {
		r.status = http.StatusOK
	}
	s.reply = r
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, recorded{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: string(body)})
	rep := s.reply
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (s *stub) last(t *testing.T) recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		t.Fatal("the provider sent no request")
	}
	return s.requests[len(s.requests)-1]
}

// replyCase is a reply of the API and what Value must make of it.
type replyCase struct {
	name    string
	reply   reply
	want    float64
	wantOK  bool
	wantErr error  // the kind, with errors.Is; nil with wantMsg for others
	wantMsg string // a part of the error message
}

// checkReplies runs q against p for each reply.
func checkReplies(t *testing.T, s *stub, p Provider, q Query, cases []replyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.set(tc.reply)
			v, ok, err := p.Value(context.Background(), q)
			if tc.wantErr != nil || tc.wantMsg != "" {
				if err == nil {
					t.Fatalf("Value() = %v, %v, want an error", v, ok)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Value() error = %v, want it to be %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("Value() error = %v, want it to contain %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Value() error = %v", err)
			}
			if v != tc.want || ok != tc.wantOK {
				t.Errorf("Value() = %v, %v, want %v, %v", v, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func mustNew(t *testing.T, cfg Config) Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s) error = %v", cfg.Type, err)
	}
	return p
}

func secret(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func wantQuery(t *testing.T, got map[string][]string, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("query parameters = %v, want %v", got, want)
	}
	for k, v := range want {
		if g := got[k]; len(g) != 1 || g[0] != v {
			t.Errorf("query parameter %s = %q, want %q", k, g, v)
		}
	}
}

func contains(err error, s string) bool { return strings.Contains(err.Error(), s) }
