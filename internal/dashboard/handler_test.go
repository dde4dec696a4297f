package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/telemetry"
)

// fakeSource answers from fixed values; block makes every call wait for
// its context.
type fakeSource struct {
	snap   local.Snapshot
	stats  []local.DeploymentStat
	events []local.Event
	err    error
	block  bool
	mu     sync.Mutex
	window time.Duration // of the last Stats but the recorder's
	// commands are the commands given, "ns/name command" each.
	commands []string
}

func (f *fakeSource) wait(ctx context.Context) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func (f *fakeSource) Command(ctx context.Context, ns, name string, cmd rollout.Command) error {
	f.commands = append(f.commands, ns+"/"+name+" "+string(cmd))
	return f.wait(ctx)
}

func (f *fakeSource) Snapshot(ctx context.Context) (local.Snapshot, error) {
	return f.snap, f.wait(ctx)
}

func (f *fakeSource) Stats(ctx context.Context, window time.Duration) ([]local.DeploymentStat, error) {
	if window != goldenWindow {
		f.mu.Lock()
		f.window = window
		f.mu.Unlock()
	}
	return f.stats, f.wait(ctx)
}

func (f *fakeSource) Events(ctx context.Context, since int64, _ bool, fn func(local.Event) error) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	for _, e := range f.events {
		if e.Seq > since {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func deployment(name, image string, replicas int32) local.DeploymentView {
	return local.DeploymentView{
		Deployment: appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "test"},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: image}}},
			}},
		},
		Revision: "rev-" + name, Ready: replicas,
	}
}

func fixture() *fakeSource {
	minRate, maxDur := 99.0, 500.0
	value, samples := 97.5, int64(412)
	c := v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: &minRate}},
					{Name: "request-duration", ThresholdRange: &v1beta1.CanaryThresholdRange{Max: &maxDur}},
				},
			},
		},
		Status: v1beta1.CanaryStatus{
			Phase: v1beta1.PhaseProgressing, CanaryWeight: 30, FailedChecks: 2, LastAppliedSpec: "abc",
			Metrics:    []v1beta1.MetricStatus{{Name: "request-success-rate", Verdict: "fail", Value: &value, Samples: samples, Reason: "97.5% < 99% (n=412)"}},
			Conditions: []v1beta1.CanaryCondition{{Type: "Paused", Status: metav1.ConditionTrue}},
		},
	}
	src := &fakeSource{
		snap: local.Snapshot{
			Canaries:    []v1beta1.Canary{c},
			Deployments: []local.DeploymentView{deployment("podinfo", "podinfo:1.7.1", 1), deployment("podinfo-primary", "podinfo:1.7.0", 2), deployment("load", "load", 1)},
			Pods: []local.PodStatus{
				{Name: "podinfo-primary-a", Namespace: "test", Deployment: "podinfo-primary", Ready: true, Running: true, Started: t0.Add(-90 * time.Second)},
				{Name: "podinfo-b", Namespace: "test", Deployment: "podinfo", Restarts: 3, Started: t0.Add(-5 * time.Second)},
			},
		},
		stats: []local.DeploymentStat{
			{Namespace: "test", Name: "podinfo-primary", Meshed: "2/2", HasTraffic: true,
				Stats: telemetry.Stats{Requests: 600, SuccessRate: 100, RPS: 10, P50: 2, P95: 8, P99: 12.5}},
			{Namespace: "test", Name: "load", Meshed: "1/1"},
		},
	}
	for i := 1; i <= 12; i++ {
		src.events = append(src.events, local.Event{Seq: int64(i), Time: t0, Type: "Normal", Reason: "Progressing", Kind: "Canary", Namespace: "test", Name: "podinfo", Message: fmt.Sprintf("step %d", i)})
	}
	src.events = append(src.events, local.Event{Seq: 13, Time: t0, Type: "Warning", Reason: "Unhealthy", Kind: "Pod", Namespace: "test", Name: "podinfo-b", Message: "readiness probe failed"})
	return src
}

func get(t *testing.T, h http.Handler, target string) (*http.Response, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9999"+target, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestState(t *testing.T) {
	src := fixture()
	h := New(Options{Source: src, Now: func() time.Time { return t0 }})
	resp, body := get(t, h, "/api/state?since=10")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var st State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if src.window != time.Minute || st.Window != "1m0s" {
		t.Errorf("window = %s (%q), want the default 1m", src.window, st.Window)
	}
	if len(st.Canaries) != 1 {
		t.Fatalf("canaries = %d, want 1", len(st.Canaries))
	}
	c := st.Canaries[0]
	if c.Phase != "Progressing" || c.Weight != 30 || c.MaxWeight != 50 || c.FailedChecks != 2 || c.Threshold != 5 || !c.Paused {
		t.Errorf("canary = %+v", c)
	}
	if c.Primary != "podinfo-primary" || c.Target != "podinfo" || c.Interval != "10s" || c.StepWeight != 10 {
		t.Errorf("canary names/spec = %+v", c)
	}
	if len(c.Metrics) != 2 {
		t.Fatalf("metrics = %+v, want the evaluated one and the pending one", c.Metrics)
	}
	m := c.Metrics[0]
	if m.Verdict != "fail" || m.Value == nil || *m.Value != 97.5 || m.Samples != 412 || m.Threshold != "≥ 99%" || m.Unit != "%" || m.Reason == "" {
		t.Errorf("success metric = %+v", m)
	}
	if p := c.Metrics[1]; p.Name != "request-duration" || p.Verdict != "pending" || p.Threshold != "≤ 500 ms" {
		t.Errorf("duration metric = %+v", p)
	}
	if len(c.Decisions) != maxDecisions || c.Decisions[0].Message != "step 5" || c.Decisions[maxDecisions-1].Message != "step 12" {
		t.Errorf("decisions = %+v, want the last %d Canary events", c.Decisions, maxDecisions)
	}

	if len(st.Deployments) != 3 {
		t.Fatalf("deployments = %+v", st.Deployments)
	}
	byName := map[string]Deployment{}
	for _, d := range st.Deployments {
		byName[d.Name] = d
	}
	prim := byName["podinfo-primary"]
	if prim.Role != "primary" || prim.Canary != "podinfo" || prim.Replicas != 2 || prim.Images[0] != "podinfo:1.7.0" {
		t.Errorf("primary = %+v", prim)
	}
	if s := prim.Stats; s == nil || s.Success == nil || *s.Success != 100 || s.RPS != 10 || *s.P50 != 2 || *s.P95 != 8 || *s.P99 != 12.5 || s.Meshed != "2/2" {
		t.Errorf("primary stats = %+v", prim.Stats)
	}
	if len(prim.Pods) != 1 || !prim.Pods[0].Ready || prim.Pods[0].Status != "Running" || prim.Pods[0].Age != "1m30s" {
		t.Errorf("primary pods = %+v", prim.Pods)
	}
	if byName["podinfo"].Role != "canary" || byName["podinfo"].Pods[0].Status != "CrashLoopBackOff" || byName["podinfo"].Pods[0].Restarts != 3 {
		t.Errorf("canary deployment = %+v", byName["podinfo"])
	}
	if s := byName["load"].Stats; s == nil || s.Success != nil || s.P99 != nil {
		t.Errorf("load without traffic = %+v, want no success rate or latency", s)
	}
	if byName["podinfo"].Stats != nil {
		t.Errorf("podinfo without stats = %+v", byName["podinfo"].Stats)
	}

	if st.LastSeq != 13 || len(st.Events) != 3 || st.Events[0].Seq != 11 || st.Events[2].Reason != "Unhealthy" {
		t.Errorf("events = %+v (last %d), want 11..13", st.Events, st.LastSeq)
	}
}

func TestStateWindow(t *testing.T) {
	src := fixture()
	h := New(Options{Source: src})
	if resp, body := get(t, h, "/api/state?window=10s"); resp.StatusCode != http.StatusOK || src.window != 10*time.Second {
		t.Errorf("window=10s: status %d, window %s: %s", resp.StatusCode, src.window, body)
	}
	for _, q := range []string{"window=2h", "window=soon", "window=0s", "since=-1", "since=x"} {
		resp, body := get(t, h, "/api/state?"+q)
		var e apiError
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error == "" {
			t.Errorf("%s: status %d, body %s, want 400 with an error", q, resp.StatusCode, body)
		}
	}
}

func TestEvents(t *testing.T) {
	h := New(Options{Source: fixture()})
	resp, body := get(t, h, "/api/events?since=12")
	var evs []local.Event
	if err := json.Unmarshal(body, &evs); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v: %s", resp.StatusCode, err, body)
	}
	if len(evs) != 1 || evs[0].Seq != 13 {
		t.Errorf("events = %+v, want only seq 13", evs)
	}
}

func TestSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		err        error
		code       int
		notRunning bool
	}{
		{fmt.Errorf("%w on /x: start one", local.ErrNotRunningHere), http.StatusServiceUnavailable, true},
		{fmt.Errorf("read reply: boom"), http.StatusBadGateway, false},
	} {
		for _, path := range []string{"/api/state", "/api/events"} {
			resp, body := get(t, New(Options{Source: &fakeSource{err: tc.err}}), path)
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s: %v: %s", path, err, body)
			}
			if resp.StatusCode != tc.code || e.NotRunning != tc.notRunning || !strings.Contains(e.Error, tc.err.Error()) {
				t.Errorf("%s with %v: status %d body %s, want %d", path, tc.err, resp.StatusCode, body, tc.code)
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	h := New(Options{Source: &fakeSource{block: true}, Timeout: 100 * time.Millisecond})
	start := time.Now()
	resp, body := get(t, h, "/api/state")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("answered after %s, want about the 100ms timeout", took)
	}
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d (%s), want a timeout", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "time") {
		t.Errorf("body %s does not say it timed out", body)
	}
}

func TestPage(t *testing.T) {
	h := New(Options{Source: fixture()})
	resp, body := get(t, h, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<script src="/static/app.js"`) {
		t.Fatalf("/: status %d:\n%s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for path, ctype := range map[string]string{"/static/app.js": "javascript", "/static/style.css": "text/css"} {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: status %d, type %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		for _, ext := range []string{"http://", "https://", "//fonts."} {
			if strings.Contains(string(body), ext) {
				t.Errorf("%s refers to an external resource (%s)", path, ext)
			}
		}
	}
	if resp, _ := get(t, h, "/api/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/api/nope: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, h, "/static/missing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/static/missing.js: status %d, want 404", resp.StatusCode)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "0s",
		45 * time.Second:               "45s",
		3 * time.Minute:                "3m",
		3*time.Minute + 10*time.Second: "3m10s",
		25 * time.Minute:               "25m",
		2*time.Hour + 5*time.Minute:    "2h5m",
		72 * time.Hour:                 "3d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9999": true, "localhost:1": true, "[::1]:9999": true,
		"0.0.0.0:9999": false, ":9999": false, "192.168.1.2:80": false, "nonsense": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestNotRunning reads through the real client from a state directory
// where no runtime runs.
func TestNotRunning(t *testing.T) {
	h := New(Options{Source: local.NewClient(t.TempDir())})
	resp, body := get(t, h, "/api/state")
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !e.NotRunning || !strings.Contains(e.Error, "no serin is running") {
		t.Errorf("status %d, body %s: want 503 saying no serin is running", resp.StatusCode, body)
	}
}

func TestListenInUse(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(l.Addr().String())
	var inUse *AddrInUseError
	if !errors.As(err, &inUse) || inUse.Addr != l.Addr().String() {
		t.Errorf("Listen on a taken address: %v, want an *AddrInUseError", err)
	}
}
