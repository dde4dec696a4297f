package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/telemetry"
)

// TypedObject carries one object through the local API with its kind.
type TypedObject struct {
	Kind   string          `json:"kind"`
	Object json.RawMessage `json:"object"`
}

// EncodeObject wraps an object for the API.
func EncodeObject(obj any) (TypedObject, error) {
	kind, _, _ := KindOf(obj)
	if _, ok := obj.(*corev1.Namespace); ok {
		kind = "namespace"
	}
	if kind == "" {
		return TypedObject{}, errors.New(unsupportedKind(obj))
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return TypedObject{}, fmt.Errorf("encode %s: %w", kind, err)
	}
	return TypedObject{Kind: kind, Object: b}, nil
}

// Decode returns the typed object.
func (t TypedObject) Decode() (any, error) {
	var obj any
	switch t.Kind {
	case "deployment":
		obj = &appsv1.Deployment{}
	case "service":
		obj = &corev1.Service{}
	case "canary":
		obj = &v1beta1.Canary{}
	case "metrictemplate":
		obj = &v1beta1.MetricTemplate{}
	case "alertprovider":
		obj = &v1beta1.AlertProvider{}
	case "namespace":
		obj = &corev1.Namespace{}
	default:
		return nil, fmt.Errorf("kind %q: not supported by the local runtime", t.Kind)
	}
	if err := json.Unmarshal(t.Object, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", t.Kind, err)
	}
	return obj, nil
}

// SetImageRequest, SetEnvRequest and CommandRequest are the bodies of the
// API's changes.
type (
	SetImageRequest struct {
		// Kind is Deployment (the default when empty) or DaemonSet; the
		// local runtime runs Deployments only.
		Kind                              string `json:",omitempty"`
		Namespace, Name, Container, Image string
	}
	SetEnvRequest struct {
		Namespace, Name string
		Env             map[string]string
	}
	CommandRequest struct {
		Namespace, Name string
		Command         rollout.Command
	}
)

// DeploymentStat is a Deployment's golden metrics over a window, as
// `linkerd viz stat deploy` shows them.
type DeploymentStat struct {
	Namespace  string          `json:"namespace"`
	Name       string          `json:"name"`
	Meshed     string          `json:"meshed"`
	Stats      telemetry.Stats `json:"stats"`
	HasTraffic bool            `json:"hasTraffic"`
}

// Stats returns the golden metrics of every Deployment over the window
// before now.
func (r *Runtime) Stats(window time.Duration) []DeploymentStat {
	snap := r.Snapshot()
	now := r.now()
	var out []DeploymentStat
	for _, d := range snap.Deployments {
		st := r.tel.Stats(d.Deployment.Namespace, d.Deployment.Name, now.Add(-window), now)
		for _, f := range []*float64{&st.SuccessRate, &st.RPS, &st.P50, &st.P95, &st.P99} {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				*f = 0 // JSON has no NaN; HasTraffic says there was nothing
			}
		}
		out = append(out, DeploymentStat{
			Namespace: d.Deployment.Namespace, Name: d.Deployment.Name,
			Meshed:     fmt.Sprintf("%d/%d", d.Ready, *d.Deployment.Spec.Replicas),
			Stats:      st,
			HasTraffic: st.Requests > 0,
		})
	}
	return out
}

// Handler returns the local API.
func (r *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/snapshot", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, r.Snapshot(), nil)
	})
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, req *http.Request) {
		objs, err := decodeObjects(req.Body)
		if err != nil {
			reply(w, nil, err)
			return
		}
		out, err := r.Apply(objs...)
		reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/delete", func(w http.ResponseWriter, req *http.Request) {
		objs, err := decodeObjects(req.Body)
		if err != nil {
			reply(w, nil, err)
			return
		}
		out, err := r.Delete(objs...)
		reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/set-image", func(w http.ResponseWriter, req *http.Request) {
		var b SetImageRequest
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			reply(w, nil, err)
			return
		}
		if b.Kind != "" && b.Kind != "Deployment" {
			reply(w, nil, fmt.Errorf("set image: the local runtime runs Deployments only, not a %s", b.Kind))
			return
		}
		reply(w, "ok", r.SetImage(b.Namespace, b.Name, b.Container, b.Image))
	})
	mux.HandleFunc("POST /v1/set-env", func(w http.ResponseWriter, req *http.Request) {
		var b SetEnvRequest
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, "ok", r.SetEnv(b.Namespace, b.Name, b.Env))
	})
	mux.HandleFunc("POST /v1/command", func(w http.ResponseWriter, req *http.Request) {
		var b CommandRequest
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, "ok", r.Command(b.Namespace, b.Name, b.Command))
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, req *http.Request) {
		window, err := time.ParseDuration(req.URL.Query().Get("window"))
		if err != nil || window <= 0 {
			window = time.Minute
		}
		reply(w, r.Stats(window), nil)
	})
	mux.HandleFunc("GET /v1/events", r.serveEvents)
	mux.HandleFunc("GET /v1/logs", r.serveLogs)
	return mux
}

func decodeObjects(body io.Reader) ([]any, error) {
	var typed []TypedObject
	if err := json.NewDecoder(body).Decode(&typed); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	objs := make([]any, 0, len(typed))
	for _, t := range typed {
		o, err := t.Decode()
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// apiReply is the envelope of every non-streaming answer.
type apiReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	var rep apiReply
	if v != nil {
		b, merr := json.Marshal(v)
		if merr != nil {
			err = errors.Join(err, merr)
		}
		rep.Result = b
	}
	code := http.StatusOK
	if err != nil {
		rep.Error = err.Error()
		code = http.StatusUnprocessableEntity
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}

// serveEvents streams events as JSON lines: those after ?since=, then, with
// ?watch=true, each new one until the client goes.
func (r *Runtime) serveEvents(w http.ResponseWriter, req *http.Request) {
	since, _ := strconv.ParseInt(req.URL.Query().Get("since"), 10, 64)
	watch := req.URL.Query().Get("watch") == "true"
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	for {
		evs, changed := r.Events(since)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return
			}
			since = e.Seq
		}
		if !watch {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-req.Context().Done():
			return
		case <-r.ctx.Done():
			return
		case <-changed:
		}
	}
}

// serveLogs writes the logs of a Deployment's pods; with ?follow=true it
// keeps writing what they append.
func (r *Runtime) serveLogs(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	files := r.LogFiles(q.Get("namespace"), q.Get("deployment"))
	if len(files) == 0 {
		http.Error(w, fmt.Sprintf("deployment %s/%s has no pods", q.Get("namespace"), q.Get("deployment")), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	flusher, _ := w.(http.Flusher)
	offsets := make([]int64, len(files))
	for {
		for i, f := range files {
			n, err := copyFrom(w, f, offsets[i])
			offsets[i] += n
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return
			}
		}
		if q.Get("follow") != "true" {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !sleep(req.Context(), 250*time.Millisecond) {
			return
		}
	}
}

func copyFrom(w io.Writer, path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, bufio.NewReader(f))
}

// ServeAPI serves the local API on the unix socket of the state directory
// until ctx ends. Only the user who runs serin may connect (mode 0600).
func (r *Runtime) ServeAPI(ctx context.Context) error {
	path := SocketPath(r.opts.StateDir)
	_ = os.Remove(path) // a socket left by a killed run; the lock says none runs
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("local api: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return fmt.Errorf("local api: %w", err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("local api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = os.Remove(path)
	return nil
}
