package loadtester

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/hooks"
)

// DefaultTimeout bounds one task when Options.Timeout is zero, as
// Flagger's loadtester's -timeout.
const DefaultTimeout = time.Hour

// waitDelay is how long a command's output is waited for after it was
// killed (a child that keeps its pipes open must not hang the task).
const waitDelay = 5 * time.Second

// maxPayload bounds a request body.
const maxPayload = 1 << 20

// Options configure a Server.
type Options struct {
	// Logger receives what the server does; nil discards.
	Logger *slog.Logger
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a new one.
	Registry *prometheus.Registry
	// Token, when set, must come with every task and gate request, as
	// "Authorization: Bearer <token>" or as the password of basic auth
	// (so a webhook URL such as http://serin:<token>@host/ carries it).
	Token string
	// AllowExec lets any command run (through sh -c, as Flagger does);
	// AllowCommands lets the commands of these names run, directly and
	// without a shell. Without either only hey runs, as serin's load
	// generator.
	AllowExec     bool
	AllowCommands []string
	// Timeout bounds one task; DefaultTimeout when zero.
	Timeout time.Duration
	// Dial makes hey's connections; nil means a net.Dialer. Under serin
	// run it resolves Kubernetes Service names (svcnames).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is Flagger's loadtester API. It is an http.Handler; Close stops
// the tasks running in the background.
type Server struct {
	log     *slog.Logger
	opts    Options
	policy  policy
	mux     *http.ServeMux
	metrics *metrics

	ctx    context.Context // of the background tasks
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu      sync.Mutex
	gates   map[string]bool     // open gates, by "gate/name.namespace" or "rollback/name.namespace"
	running map[string]struct{} // background tasks, by task key
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		log: opts.Logger, opts: opts, metrics: m,
		policy: policy{allowExec: opts.AllowExec, allowed: opts.AllowCommands},
		ctx:    ctx, cancel: cancel,
		gates: map[string]bool{}, running: map[string]struct{}{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusOK, "OK") })
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/gate/approve", s.auth(func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusOK, "Approved") }))
	mux.Handle("/gate/halt", s.auth(func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusForbidden, "Forbidden") }))
	for _, g := range []string{"gate", "rollback"} {
		mux.Handle("/"+g+"/check", s.auth(s.gateCheck(g)))
		mux.Handle("/"+g+"/open", s.auth(s.gateSet(g, true)))
		mux.Handle("/"+g+"/close", s.auth(s.gateSet(g, false)))
	}
	mux.Handle("/", s.auth(s.handleTask)) // any other path, as Flagger's
	s.mux = mux
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close cancels the background tasks and waits for them to end.
func (s *Server) Close() {
	s.cancel()
	s.bg.Wait()
}

func answer(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text)
}

// auth checks the token, when there is one.
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	if s.opts.Token == "" {
		return h
	}
	want := []byte(s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := ""
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			got = strings.TrimSpace(h[7:])
		} else if _, pass, ok := r.BasicAuth(); ok {
			got = pass
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			s.metrics.unauthorized.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="serin loadtester"`)
			answer(w, http.StatusUnauthorized, "a valid token is required (Authorization: Bearer <token>)")
			return
		}
		h(w, r)
	})
}

// readPayload decodes a webhook payload and returns it with its Canary's
// name.namespace.
func readPayload(w http.ResponseWriter, r *http.Request) (hooks.Payload, string, bool) {
	var p hooks.Payload
	if err := json.NewDecoder(io.LimitReader(r.Body, maxPayload)).Decode(&p); err != nil {
		answer(w, http.StatusBadRequest, fmt.Sprintf("decode the webhook payload: %v", err))
		return p, "", false
	}
	if p.Name == "" || p.Namespace == "" {
		answer(w, http.StatusBadRequest, "the webhook payload needs name and namespace")
		return p, "", false
	}
	return p, p.Name + "." + p.Namespace, true
}

func (s *Server) gateCheck(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, canary, ok := readPayload(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		open := s.gates[kind+"/"+canary]
		s.mu.Unlock()
		s.log.Info("gate checked", "gate", kind, "canary", canary, "open", open)
		if open {
			answer(w, http.StatusOK, "Approved")
			return
		}
		answer(w, http.StatusForbidden, "Forbidden")
	}
}

func (s *Server) gateSet(kind string, open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, canary, ok := readPayload(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		if open {
			s.gates[kind+"/"+canary] = true
		} else {
			delete(s.gates, kind+"/"+canary)
		}
		s.mu.Unlock()
		s.log.Info("gate set", "gate", kind, "canary", canary, "open", open)
		answer(w, http.StatusAccepted, map[bool]string{true: "Opened", false: "Closed"}[open])
	}
}

// handleTask runs the task of a webhook: blocking, the result is the
// answer; for a rollout webhook, in the background, answered at once.
func (s *Server) handleTask(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "POST a webhook payload")
		return
	}
	p, canary, ok := readPayload(w, r)
	if !ok {
		return
	}
	t, err := newTask(canary, p.Metadata, s.policy)
	if err == nil && t.hey != nil && s.opts.Dial != nil {
		t.hey.dialWith(s.opts.Dial)
	}
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errForbidden) {
			code = http.StatusForbidden
		}
		s.metrics.tasks.WithLabelValues("none", "refused").Inc()
		s.log.Warn("task refused", "canary", canary, "err", err)
		answer(w, code, err.Error())
		return
	}
	if v1beta1.HookType(r.Header.Get(hooks.TypeHeader)) == v1beta1.RolloutHook {
		answer(w, http.StatusAccepted, s.startBackground(t))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	out, err := s.runTask(ctx, t)
	if err != nil {
		answer(w, http.StatusInternalServerError, err.Error())
		return
	}
	if t.retOut || t.hey != nil {
		answer(w, http.StatusOK, out)
		return
	}
	answer(w, http.StatusOK, "OK")
}

// startBackground starts t unless the same command of the same Canary is
// running, and says which.
func (s *Server) startBackground(t *task) string {
	s.mu.Lock()
	if _, dup := s.running[t.key()]; dup {
		s.mu.Unlock()
		s.metrics.tasks.WithLabelValues(t.kind, "skipped").Inc()
		s.log.Info("task already running", "canary", t.canary, "cmd", t.command)
		return "already running: " + t.command
	}
	s.running[t.key()] = struct{}{}
	s.mu.Unlock()
	s.bg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.running, t.key())
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
		defer cancel()
		_, _ = s.runTask(ctx, t)
	})
	return "started: " + t.command
}

// runTask runs t, logs and counts the outcome.
func (s *Server) runTask(ctx context.Context, t *task) (string, error) {
	log := s.log.With("canary", t.canary, "cmd", t.command)
	log.Info("task starting")
	s.metrics.running.Inc()
	start := time.Now()
	out, err := t.run(ctx)
	s.metrics.running.Dec()
	s.metrics.duration.WithLabelValues(t.kind).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.tasks.WithLabelValues(t.kind, "failed").Inc()
		log.Warn("task failed", "err", err)
		return out, err
	}
	s.metrics.tasks.WithLabelValues(t.kind, "ok").Inc()
	if t.logOut || t.hey != nil {
		log.Info("task finished", "output", strings.TrimSpace(out))
	} else {
		log.Info("task finished")
	}
	return out, nil
}
