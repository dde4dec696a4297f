package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxAdminBody bounds a PUT /routes body.
const maxAdminBody = 4 << 20

// BackendStats is one row of GET /stats: a backend's golden metrics over
// the window. Rates and latencies are absent when there were no requests.
type BackendStats struct {
	Namespace   string   `json:"namespace"`
	Deployment  string   `json:"deployment"`
	Requests    int64    `json:"requests"`
	Failures    int64    `json:"failures"`
	SuccessRate *float64 `json:"successRate,omitempty"`
	RPS         float64  `json:"rps"`
	P50         *float64 `json:"latencyP50Ms,omitempty"`
	P95         *float64 `json:"latencyP95Ms,omitempty"`
	P99         *float64 `json:"latencyP99Ms,omitempty"`
}

// StatsResponse is the body of GET /stats.
type StatsResponse struct {
	Window  string         `json:"window"`
	Backend []BackendStats `json:"backends"`
}

// AdminOptions secure the admin API.
type AdminOptions struct {
	// Token is the bearer token every request but GET and HEAD must
	// carry (`Authorization: Bearer TOKEN`); with none, such requests are
	// refused.
	Token string
	// Pprof serves Go's profiles under /debug/pprof/.
	Pprof bool
}

// AdminHandler serves the proxy's admin API, meant for loopback or a unix
// socket:
//
//	GET /routes          the configuration in effect (JSON)
//	PUT /routes          apply a configuration: the proxy's config file
//	                     (YAML or JSON; its admin field is ignored); 400
//	                     with {"errors": [...]}, each with its field path,
//	                     when invalid, and the old one stays; a file
//	                     without routes only with ?force=true
//	GET /stats?window=1m golden metrics per backend (StatsResponse)
//	GET /metrics         Prometheus metrics, Linkerd's names, from reg
//	GET /healthz         200 while the process serves
//	GET /readyz          200 once a configuration is applied
//	GET /debug/pprof/    Go's profiles, with opts.Pprof only
//
// Every request but GET and HEAD needs opts.Token as a bearer token (401
// without). reg is the registry /metrics serves; the caller registers the
// Store's Collector (and anything else) on it. now gives the end of
// /stats windows.
func AdminHandler(p *Proxy, reg prometheus.Gatherer, now func() time.Time, opts AdminOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, p.Config())
	})
	mux.HandleFunc("PUT /routes", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
		if err == nil && len(body) > maxAdminBody {
			err = fmt.Errorf("body larger than %d bytes", maxAdminBody)
		}
		if err != nil {
			writeErrors(w, http.StatusBadRequest, "read body: "+err.Error())
			return
		}
		f, err := ParseFile(body)
		if err == nil && len(f.Routes) == 0 && r.URL.Query().Get("force") != "true" {
			writeErrors(w, http.StatusBadRequest, "routes: must not be empty; PUT /routes?force=true removes every route")
			return
		}
		if err == nil {
			err = p.Apply(f.Config)
		}
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				writeErrors(w, http.StatusBadRequest, ce.Problems...)
				return
			}
			writeErrors(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, p.Config())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		window := time.Minute
		if s := r.URL.Query().Get("window"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				writeErrors(w, http.StatusBadRequest, fmt.Sprintf("window: must be a positive duration, got %q", s))
				return
			}
			window = d
		}
		to := now()
		out := StatsResponse{Window: window.String(), Backend: []BackendStats{}}
		for _, k := range p.Store().Backends() {
			st := p.Store().Stats(k.Namespace, k.Deployment, to.Add(-window), to)
			out.Backend = append(out.Backend, BackendStats{
				Namespace: k.Namespace, Deployment: k.Deployment,
				Requests: st.Requests, Failures: st.Failures, RPS: st.RPS,
				SuccessRate: finite(st.SuccessRate), P50: finite(st.P50), P95: finite(st.P95), P99: finite(st.P99),
			})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if len(p.Config().Routes) == 0 {
			http.Error(w, "no routes applied", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return requireToken(opts.Token, mux)
}

// requireToken lets GET and HEAD requests through to next, and the
// others only with token as their bearer token.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := []byte(r.Header.Get("Authorization"))
			if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="serin proxy admin"`)
				writeErrors(w, http.StatusUnauthorized, "a write needs the admin token: Authorization: Bearer TOKEN")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeErrors(w http.ResponseWriter, status int, problems ...string) {
	writeJSON(w, status, map[string][]string{"errors": problems})
}

// IsLoopback reports whether addr (host:port) only accepts connections
// from this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
