package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/serinhq/serin/internal/local"
)

//go:embed static
var static embed.FS

// Options configure the dashboard's handler.
type Options struct {
	// Source is read on every request.
	Source Source
	// Auth identifies callers and says what each may see and do; nil
	// means the page is open to whoever reaches it (loopback only).
	Auth Authenticator
	// Window is the default window of the golden metrics (default 1m, as
	// `linkerd viz stat`); ?window= overrides it up to MaxWindow.
	Window time.Duration
	// Timeout bounds every request (default 5s).
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MaxWindow is the longest window of golden metrics a request may ask for.
const MaxWindow = time.Hour

// New returns the dashboard: the page at /, its assets under /static/, and
// JSON under /api/.
func New(opts Options) http.Handler {
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{opts: opts}
	assets, _ := fs.Sub(static, "static") // the directory is embedded
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /api/state", h.state)
	mux.HandleFunc("GET /api/events", h.events)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint"})
	})
	return http.TimeoutHandler(secure(mux), opts.Timeout, `{"error":"the dashboard timed out reading the local runtime"}`)
}

type handler struct{ opts Options }

// apiError is the body of a failed /api/ request.
type apiError struct {
	Error string `json:"error"`
	// NotRunning is true when no runtime answers on the state directory.
	NotRunning bool `json:"notRunning,omitempty"`
}

// state answers /api/state?since=SEQ&window=DURATION: the Canaries, the
// Deployments with their golden metrics and pods, and the events after
// since.
func (h *handler) state(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.sourceContext(r)
	defer cancel()
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	window := h.opts.Window
	if s := q.Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second || d > MaxWindow {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "window: must be a duration between 1s and " + MaxWindow.String() + ", got " + strconv.Quote(s)})
			return
		}
		window = d
	}
	snap, err := h.opts.Source.Snapshot(ctx)
	if err != nil {
		writeSourceError(w, err)
		return
	}
	stats, err := h.opts.Source.Stats(ctx, window)
	if err != nil {
		writeSourceError(w, err)
		return
	}
	events, err := h.allEvents(ctx)
	if err != nil {
		writeSourceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, buildState(h.opts.Now(), window, snap, stats, events, since))
}

// events answers /api/events?since=SEQ: the events after since, oldest
// first, at most the last 200.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.sourceContext(r)
	defer cancel()
	since, err := parseSince(r.URL.Query().Get("since"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	evs := []local.Event{}
	err = h.opts.Source.Events(ctx, since, false, func(e local.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		writeSourceError(w, err)
		return
	}
	if len(evs) > maxEvents {
		evs = evs[len(evs)-maxEvents:]
	}
	writeJSON(w, http.StatusOK, evs)
}

// sourceContext bounds the reads of one request a little within the
// handler's timeout, so that a slow runtime gets a JSON answer that says so.
func (h *handler) sourceContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opts.Timeout*4/5)
}

func (h *handler) allEvents(ctx context.Context) ([]local.Event, error) {
	var evs []local.Event
	err := h.opts.Source.Events(ctx, 0, false, func(e local.Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

func parseSince(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("since: must be a non-negative event sequence number, got " + strconv.Quote(s))
	}
	return n, nil
}

func writeSourceError(w http.ResponseWriter, err error) {
	if errors.Is(err, local.ErrNotRunningHere) {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error(), NotRunning: true})
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		writeJSON(w, http.StatusGatewayTimeout, apiError{Error: "the local runtime did not answer in time: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// secure sets headers that keep the page to its own origin: it loads
// nothing from elsewhere and may not be framed.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
