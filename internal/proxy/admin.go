package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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

// AdminHandler serves the proxy's admin API, meant for loopback only:
//
//	GET /routes          the configuration in effect (JSON)
//	PUT /routes          apply a configuration (YAML or JSON); 400 with
//	                     {"errors": [...]} when invalid, the old one stays
//	GET /stats?window=1m golden metrics per backend (StatsResponse)
//	GET /metrics         Prometheus metrics, Linkerd's names, from reg
//	GET /healthz         200 while the process serves
//	GET /readyz          200 once a configuration is applied
//	GET /debug/pprof/    Go's profiles
//
// reg is the registry /metrics serves; the caller registers the Store's
// Collector (and anything else) on it. now gives the end of /stats windows.
func AdminHandler(p *Proxy, reg prometheus.Gatherer, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, p.Config())
	})
	mux.HandleFunc("PUT /routes", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {err.Error()}})
			return
		}
		var cfg Config
		if err := UnmarshalStrict(body, &cfg); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {"parse: " + err.Error()}})
			return
		}
		if err := p.Apply(cfg); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": ce.Problems})
				return
			}
			writeJSON(w, http.StatusInternalServerError, map[string][]string{"errors": {err.Error()}})
			return
		}
		writeJSON(w, http.StatusOK, p.Config())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		window := time.Minute
		if s := r.URL.Query().Get("window"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				writeJSON(w, http.StatusBadRequest, map[string][]string{"errors": {fmt.Sprintf("window: must be a positive duration, got %q", s)}})
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
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
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
