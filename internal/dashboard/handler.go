package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

//go:embed static
var static embed.FS

// Options configure the dashboard's handler.
type Options struct {
	// Source is read on every request.
	Source Source
	// Auth identifies callers and says what each may see and do. With it,
	// every /api/ request must authenticate (401 otherwise) and sees only
	// the namespaces its caller may view; without it (nil) reads are open
	// to whoever reaches the page, so serve it on loopback only, and
	// commands are refused: writes always need a credential.
	Auth Authenticator
	// Addr is the address the dashboard listens on (host:port). When it is
	// empty or a loopback address, requests must name a loopback host
	// (localhost, 127.0.0.1, [::1]) or Addr's host in their Host header,
	// so that a web page whose name resolves to 127.0.0.1 (DNS rebinding)
	// cannot read the dashboard.
	Addr string
	// Window is the default window of the golden metrics (default 1m, as
	// `linkerd viz stat`); ?window= overrides it up to MaxWindow.
	Window time.Duration
	// Timeout bounds every request (default 5s).
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Context bounds the recorder of the Canaries' history, a goroutine
	// that samples the Source every SampleEvery and on each Canary event;
	// nil means it runs as long as the process.
	Context context.Context
	// SampleEvery is how often the recorder samples (default 5s).
	SampleEvery time.Duration
}

// MaxWindow is the longest window of golden metrics a request may ask for.
const MaxWindow = time.Hour

// New returns the dashboard: the page at /, its assets under /static/, and
// JSON under /api/. It starts the recorder of the Canaries' history, which
// runs until opts.Context ends.
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
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = 5 * time.Second
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	h := &handler{opts: opts, rec: newRecorder(opts.Source, opts.Now, opts.SampleEvery)}
	go h.rec.run(opts.Context)
	assets, _ := fs.Sub(static, "static") // the directory is embedded
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /api/state", h.authed(h.state))
	mux.HandleFunc("GET /api/events", h.authed(h.events))
	mux.HandleFunc("GET /api/canaries/{namespace}/{name}/history", h.authed(h.history))
	mux.HandleFunc("POST /api/canaries/{namespace}/{name}/{command}", h.command)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint"})
	})
	return checkHost(opts.Addr, compressAPI(http.TimeoutHandler(secure(mux), opts.Timeout, `{"error":"the dashboard timed out reading the runtime"}`)))
}

type handler struct {
	opts Options
	rec  *recorder
}

// apiError is the body of a failed /api/ request.
type apiError struct {
	Error string `json:"error"`
	// NotRunning is true when no runtime answers on the state directory.
	NotRunning bool `json:"notRunning,omitempty"`
}

// access is what one request's caller may see. It asks the Caller once
// per namespace and forgets the answers with the request.
type access struct {
	caller   Caller // nil when the dashboard is open
	ctx      context.Context
	views    map[string]bool
	commands map[string]bool // by namespace
	err      error
}

// canView says whether the caller may see namespace ns; an error of the
// Caller is kept in a.err and denies.
func (a *access) canView(ns string) bool {
	if a.caller == nil {
		return true
	}
	if ok, seen := a.views[ns]; seen {
		return ok
	}
	ok, err := a.caller.Can(a.ctx, VerbView, ns, "")
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("checking whether %s may view namespace %s: %w", a.caller.Name(), ns, err)
	}
	ok = ok && err == nil
	a.views[ns] = ok
	return ok
}

// canCommand says whether the caller may command the Canary ns/name,
// whose phase is phase. It asks about the namespace first and, when that
// is denied, about the Canary itself only while it has a release to steer
// (in progress or Failed), so that a page of many idle Canaries costs one
// question per namespace. An open dashboard takes no commands; an error
// of the Caller denies, without failing the page.
func (a *access) canCommand(ns, name, phase string) bool {
	if a.caller == nil {
		return false
	}
	ok, seen := a.commands[ns]
	if !seen {
		ok, _ = a.caller.Can(a.ctx, VerbCommand, ns, "")
		a.commands[ns] = ok
	}
	if ok {
		return true
	}
	switch v1beta1.CanaryPhase(phase) {
	case v1beta1.PhaseProgressing, v1beta1.PhaseWaiting, v1beta1.PhaseWaitingPromotion, v1beta1.PhaseFailed:
		ok, err := a.caller.Can(a.ctx, VerbCommand, ns, name)
		return ok && err == nil
	}
	return false
}

// authed authenticates a read with opts.Auth, if any: 401 without valid
// credentials.
func (h *handler) authed(next func(http.ResponseWriter, *http.Request, *access)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := &access{ctx: r.Context(), views: map[string]bool{}, commands: map[string]bool{}}
		if h.opts.Auth != nil {
			c, ok := h.authenticate(w, r)
			if !ok {
				return
			}
			a.caller = c
		}
		next(w, r, a)
	}
}

func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	c, err := h.opts.Auth.Authenticate(r)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="serin dashboard"`)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error()})
		return nil, false
	case err != nil:
		writeJSON(w, http.StatusBadGateway, apiError{Error: "authenticating the request: " + err.Error()})
		return nil, false
	}
	return c, true
}

// state answers /api/state?since=SEQ&window=DURATION: the Canaries, the
// Deployments with their golden metrics and pods, and the events after
// since, of the namespaces the caller may view.
func (h *handler) state(w http.ResponseWriter, r *http.Request, a *access) {
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
	a.ctx = ctx
	st := buildState(h.opts.Now(), window, snap, stats, events, since, a.canView)
	if a.err != nil {
		writeJSON(w, http.StatusBadGateway, apiError{Error: a.err.Error()})
		return
	}
	for i := range st.Canaries {
		c := &st.Canaries[i]
		c.CanCommand = a.canCommand(c.Namespace, c.Name, c.Phase)
	}
	writeJSON(w, http.StatusOK, st)
}

// events answers /api/events?since=SEQ: the events after since, oldest
// first, at most the last 200, of the namespaces the caller may view.
func (h *handler) events(w http.ResponseWriter, r *http.Request, a *access) {
	ctx, cancel := h.sourceContext(r)
	defer cancel()
	since, err := parseSince(r.URL.Query().Get("since"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	a.ctx = ctx
	evs := []local.Event{}
	err = h.opts.Source.Events(ctx, since, false, func(e local.Event) error {
		if a.canView(e.Namespace) {
			evs = append(evs, e)
		}
		return nil
	})
	if err != nil {
		writeSourceError(w, err)
		return
	}
	if a.err != nil {
		writeJSON(w, http.StatusBadGateway, apiError{Error: a.err.Error()})
		return
	}
	if len(evs) > maxEvents {
		evs = evs[len(evs)-maxEvents:]
	}
	writeJSON(w, http.StatusOK, evs)
}

// history answers /api/canaries/{ns}/{name}/history: what the recorder
// kept of the Canary.
func (h *handler) history(w http.ResponseWriter, r *http.Request, a *access) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	hist, ok := h.rec.history(ns, name)
	// A Canary the caller may not see is as absent as one that is not.
	if !a.canView(ns) {
		if a.err != nil {
			writeJSON(w, http.StatusBadGateway, apiError{Error: a.err.Error()})
			return
		}
		ok = false
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("canary %s/%s: no history: it does not exist (yet) or you may not view namespace %s", ns, name, ns)})
		return
	}
	writeJSON(w, http.StatusOK, hist)
}

// CommandResult is the answer of a command accepted by the runtime: the
// engine carries it out, or says why not, at its next tick, in an event.
type CommandResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Command   string `json:"command"`
	Message   string `json:"message"`
}

// command answers POST /api/canaries/{ns}/{name}/{command}: it gives the
// Canary a manual command on behalf of an authenticated caller allowed to.
func (h *handler) command(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	cmd := rollout.Command(r.PathValue("command"))
	if !cmd.Valid() {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("command %q: must be one of promote, abort, pause, resume, retry", string(cmd))})
		return
	}
	if why := crossSite(r); why != "" {
		writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("%s canary %s/%s refused: %s", cmd, ns, name, why)})
		return
	}
	if h.opts.Auth == nil {
		writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("%s canary %s/%s refused: commands need a credential and this dashboard was started without an authenticator", cmd, ns, name)})
		return
	}
	caller, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	ctx, cancel := h.sourceContext(r)
	defer cancel()
	allowed, err := caller.Can(ctx, VerbCommand, ns, name)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, apiError{Error: fmt.Sprintf("checking whether %s may %s canary %s/%s: %v", caller.Name(), VerbCommand, ns, name, err)})
		return
	}
	if !allowed {
		writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("%s may not %s canary %s/%s (verb %q): ask for that right on namespace %s", caller.Name(), cmd, ns, name, VerbCommand, ns)})
		return
	}
	if err := h.opts.Source.Command(ctx, ns, name, cmd); err != nil {
		if errors.Is(err, local.ErrNotFound) || strings.Contains(err.Error(), local.ErrNotFound.Error()) {
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("%s canary %s/%s: %v", cmd, ns, name, err)})
			return
		}
		writeSourceError(w, fmt.Errorf("%s canary %s/%s: %w", cmd, ns, name, err))
		return
	}
	h.rec.decide(ns, name, Decision{Time: h.opts.Now(), Type: "Command", Reason: "Command", Message: fmt.Sprintf("%s requested by %s through the dashboard", cmd, caller.Name())})
	writeJSON(w, http.StatusAccepted, CommandResult{
		Namespace: ns, Name: name, Command: string(cmd),
		Message: fmt.Sprintf("%s requested for canary %s/%s; the engine acts on it at its next check", cmd, ns, name),
	})
}

// crossSite says why a command request may come from another site's page
// (CSRF), or "" when it is a request the dashboard's own page (or a
// script) sends: a JSON body, hence a preflighted request, from no other
// origin.
func crossSite(r *http.Request) string {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return "send the command with Content-Type: application/json"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "the request comes from another site (Sec-Fetch-Site: " + site + ")"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return "the request comes from another origin (" + o + ")"
		}
	}
	return ""
}

// checkHost refuses requests whose Host header names anything but this
// machine's loopback names or addr's host, when addr is empty or loopback:
// a page of another site whose name now resolves to 127.0.0.1 (DNS
// rebinding) then cannot reach the dashboard.
func checkHost(addr string, next http.Handler) http.Handler {
	if addr != "" && !IsLoopback(addr) {
		return next
	}
	listenHost, listenPort, _ := net.SplitHostPort(addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port, err := net.SplitHostPort(r.Host)
		if err != nil {
			host, port = r.Host, ""
		}
		host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		okHost := host == "localhost" || host == "127.0.0.1" || host == "::1" || (listenHost != "" && host == strings.ToLower(listenHost))
		okPort := listenPort == "" || listenPort == "0" || port == listenPort
		if !okHost || !okPort {
			writeJSON(w, http.StatusMisdirectedRequest, apiError{Error: fmt.Sprintf("host %q: this dashboard answers only to localhost, 127.0.0.1 or [::1] on its own port", r.Host)})
			return
		}
		next.ServeHTTP(w, r)
	})
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
		writeJSON(w, http.StatusGatewayTimeout, apiError{Error: "the runtime did not answer in time: " + err.Error()})
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
