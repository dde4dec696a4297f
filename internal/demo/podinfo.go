package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPodinfoVersion is the version podinfo reports when neither a
// version override nor a versioned container image is given.
const DefaultPodinfoVersion = "1.7.0"

// PodinfoOptions configure a Podinfo server. The zero value of every field
// but Rand is usable.
type PodinfoOptions struct {
	// Version reported by / and /version; empty means DefaultPodinfoVersion.
	Version string
	// Revision is the commit reported by / and /version.
	Revision string
	// Hostname reported by /; empty means the host's name.
	Hostname string
	// Color and Message of the UI; Message defaults to
	// "greetings from podinfo v<version>".
	Color   string
	Message string
	// RandomDelay delays each request by up to MaxDelay.
	RandomDelay bool
	MaxDelay    time.Duration
	// RandomError answers one request in three with 500, 400 or 409, as
	// podinfo does: about 11% of requests fail with a 5xx.
	RandomError bool
	// Rand is the source of the random delays and errors; it must not be
	// nil when RandomDelay or RandomError is set.
	Rand *rand.Rand
	// Exit ends the process for /panic; nil means /panic answers 500.
	Exit func(code int)
	// Env returns the environment listed by /env; nil means os.Environ.
	Env func() []string
}

// Podinfo is an HTTP handler with podinfo's API.
type Podinfo struct {
	opts     PodinfoOptions
	ready    atomic.Bool
	requests atomic.Int64
	mu       sync.Mutex // guards opts.Rand
	mux      *http.ServeMux
}

// NewPodinfo returns a ready Podinfo.
func NewPodinfo(opts PodinfoOptions) *Podinfo {
	if opts.Version == "" {
		opts.Version = DefaultPodinfoVersion
	}
	if opts.Color == "" {
		opts.Color = "#34577c"
	}
	if opts.Message == "" {
		opts.Message = "greetings from podinfo v" + opts.Version
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 3 * time.Second
	}
	if opts.Env == nil {
		opts.Env = os.Environ
	}
	p := &Podinfo{opts: opts, mux: http.NewServeMux()}
	p.ready.Store(true)
	p.mux.HandleFunc("GET /{$}", p.info)
	p.mux.HandleFunc("GET /version", p.version)
	p.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
	})
	p.mux.HandleFunc("GET /readyz", p.readyz)
	p.mux.HandleFunc("POST /readyz/enable", func(w http.ResponseWriter, _ *http.Request) {
		p.ready.Store(true)
		w.WriteHeader(http.StatusAccepted)
	})
	p.mux.HandleFunc("POST /readyz/disable", func(w http.ResponseWriter, _ *http.Request) {
		p.ready.Store(false)
		w.WriteHeader(http.StatusAccepted)
	})
	p.mux.HandleFunc("GET /status/{code}", p.status)
	p.mux.HandleFunc("GET /delay/{seconds}", p.delay)
	p.mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, p.opts.Env())
	})
	p.mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, r.Header)
	})
	p.mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.Copy(w, r.Body)
	})
	p.mux.HandleFunc("GET /metrics", p.metrics)
	p.mux.HandleFunc("/panic", p.panic)
	return p
}

// ServeHTTP serves podinfo's API, with random delays and errors when asked.
func (p *Podinfo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.opts.RandomDelay {
		select {
		case <-time.After(p.randDuration(p.opts.MaxDelay)):
		case <-r.Context().Done():
			return
		}
	}
	if p.opts.RandomError && !isProbe(r.URL.Path) {
		if code := p.randError(); code != 0 {
			writeJSON(w, code, map[string]any{"status": code, "message": http.StatusText(code)})
			return
		}
	}
	p.mux.ServeHTTP(w, r)
}

// isProbe keeps health checks out of the random errors, so that a faulty
// version still starts and fails only on its traffic.
func isProbe(path string) bool {
	return path == "/healthz" || strings.HasPrefix(path, "/readyz")
}

func (p *Podinfo) randDuration(max time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.opts.Rand.Int64N(int64(max) + 1))
}

func (p *Podinfo) randError() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opts.Rand.IntN(3) != 0 {
		return 0
	}
	codes := []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusConflict}
	return codes[p.opts.Rand.IntN(len(codes))]
}

// Info is the body of GET /, with podinfo's field names; numbers are
// strings, as podinfo sends them.
type Info struct {
	Hostname     string `json:"hostname"`
	Version      string `json:"version"`
	Revision     string `json:"revision"`
	Color        string `json:"color"`
	Message      string `json:"message"`
	GOOS         string `json:"goos"`
	GOARCH       string `json:"goarch"`
	Runtime      string `json:"runtime"`
	NumGoroutine string `json:"num_goroutine"`
	NumCPU       string `json:"num_cpu"`
}

func (p *Podinfo) infoData() Info {
	return Info{
		Hostname:     p.opts.Hostname,
		Version:      p.opts.Version,
		Revision:     p.opts.Revision,
		Color:        p.opts.Color,
		Message:      p.opts.Message,
		GOOS:         runtime.GOOS,
		GOARCH:       runtime.GOARCH,
		Runtime:      runtime.Version(),
		NumGoroutine: strconv.Itoa(runtime.NumGoroutine()),
		NumCPU:       strconv.Itoa(runtime.NumCPU()),
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><title>podinfo {{.Version}}</title><meta http-equiv="refresh" content="2"></head>
<body style="background:{{.Color}};color:#fff;font-family:sans-serif;text-align:center;padding-top:15vh">
<h1>{{.Message}}</h1><p>version {{.Version}} &middot; {{.Hostname}}</p></body></html>
`))

func (p *Podinfo) info(w http.ResponseWriter, r *http.Request) {
	data := p.infoData()
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, data)
		return
	}
	writeJSON(w, http.StatusOK, data)
}

func (p *Podinfo) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": p.opts.Version, "commit": p.opts.Revision})
}

func (p *Podinfo) readyz(w http.ResponseWriter, _ *http.Request) {
	if !p.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}

func (p *Podinfo) status(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 100 || code > 599 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status code must be a number between 100 and 599"})
		return
	}
	writeJSON(w, code, map[string]int{"status": code})
}

func (p *Podinfo) delay(w http.ResponseWriter, r *http.Request) {
	secs, err := strconv.Atoi(r.PathValue("seconds"))
	if err != nil || secs < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delay must be a whole number of seconds"})
		return
	}
	select {
	case <-time.After(time.Duration(secs) * time.Second):
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"delay": secs})
}

func (p *Podinfo) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP podinfo_requests_total Requests served.\n# TYPE podinfo_requests_total counter\npodinfo_requests_total %d\n", p.requests.Load())
	fmt.Fprintf(w, "# HELP podinfo_info Version of podinfo.\n# TYPE podinfo_info gauge\npodinfo_info{version=%q} 1\n", p.opts.Version)
}

func (p *Podinfo) panic(w http.ResponseWriter, _ *http.Request) {
	if p.opts.Exit == nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "panic requested"})
		return
	}
	p.opts.Exit(255)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// VersionFromImage returns the tag of a container image when it looks like
// a version ("quay.io/stefanprodan/podinfo:1.7.1" -> "1.7.1"), or "".
func VersionFromImage(image string) string {
	if i := strings.LastIndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	tag := strings.TrimPrefix(image[i+1:], "v")
	if tag == "" || tag[0] < '0' || tag[0] > '9' {
		return ""
	}
	return tag
}

// Serve serves h on l until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
