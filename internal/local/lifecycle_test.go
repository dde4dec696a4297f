package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/hooks"
	"github.com/serinhq/serin/internal/metrics/builtin"
)

// startRuntime opens a runtime on a new state directory with objs applied
// and runs it until the test ends.
func startRuntime(t *testing.T, newEngine func(Adapters) Engine, objs ...any) *Runtime {
	t.Helper()
	rt, err := Open(Options{StateDir: t.TempDir(), NewEngine: newEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Apply(objs...); err != nil {
		_ = rt.Close()
		t.Fatal(err)
	}
	runTest(t, rt)
	return rt
}

// traffic sends requests to a Service until stopped and counts the
// failures and the pods that answered.
type traffic struct {
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	failed []string
	hosts  []string // the pods that answered, in order
}

func startTraffic(t *testing.T, url string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			host, err := getHostname(url)
			tr.mu.Lock()
			if err != nil {
				tr.failed = append(tr.failed, err.Error())
			} else {
				tr.hosts = append(tr.hosts, host)
			}
			tr.mu.Unlock()
		}
	}()
	t.Cleanup(tr.end)
	return tr
}

func (tr *traffic) end() {
	tr.stop()
	<-tr.done
}

func (tr *traffic) failures() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.failed...)
}

// lastHost is the pod that answered the last request.
func (tr *traffic) lastHost() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.hosts) == 0 {
		return ""
	}
	return tr.hosts[len(tr.hosts)-1]
}

func getHostname(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	var info struct{ Hostname string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return "", err
	}
	return info.Hostname, nil
}

func phaseOf(rt *Runtime, name string) v1beta1.CanaryPhase {
	c, ok := rt.Canary("test", name)
	if !ok {
		return ""
	}
	return c.Status.Phase
}

// canaryEvents are the events recorded on a Canary.
func canaryEvents(rt *Runtime, name string) []Event {
	evs, _ := rt.Events(0)
	var out []Event
	for _, e := range evs {
		if e.Kind == "Canary" && e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func hasEvent(rt *Runtime, name, reason string, contains ...string) bool {
next:
	for _, e := range canaryEvents(rt, name) {
		if e.Reason != reason {
			continue
		}
		for _, s := range contains {
			if !strings.Contains(e.Message, s) {
				continue next
			}
		}
		return true
	}
	return false
}

func deployment(rt *Runtime, name string) (DeploymentView, bool) {
	for _, d := range rt.Snapshot().Deployments {
		if d.Deployment.Name == name {
			return d, true
		}
	}
	return DeploymentView{}, false
}

func podsOf(rt *Runtime, deploy string) []PodStatus {
	var out []PodStatus
	for _, p := range rt.Snapshot().Pods {
		if p.Deployment == deploy {
			out = append(out, p)
		}
	}
	return out
}

// isTargetPod tells the target's pods (podinfo-<rev>-<x>) from the
// primary's (podinfo-primary-<rev>-<x>).
func isTargetPod(host string) bool {
	return strings.HasPrefix(host, "podinfo-") && !strings.HasPrefix(host, "podinfo-primary-")
}

// TestDeleteRevertOnDeletion deletes a Canary with revertOnDeletion: it
// goes through Terminating and Terminated, the target takes over all the
// traffic of the Service once ready, the primary is removed, and no
// request fails on the way.
func TestDeleteRevertOnDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	port := int32(freePortT(t))
	objs := testObjects(port)
	canary := objs[2].(*v1beta1.Canary)
	canary.Spec.RevertOnDeletion = true
	rt := startRuntime(t, testEngine, objs...)
	eventually(t, 20*time.Second, "Initialized", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseInitialized })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	tr := startTraffic(t, url)
	eventually(t, 5*time.Second, "the primary to answer", func() bool { return strings.HasPrefix(tr.lastHost(), "podinfo-primary-") })

	out, err := rt.Delete(canary)
	if err != nil || len(out) != 1 || !strings.Contains(out[0], "terminating") {
		t.Fatalf("Delete = %q, %v; want the canary terminating", out, err)
	}
	if _, ok := rt.Canary("test", "podinfo"); !ok {
		t.Fatal("the canary went at once; want it kept until the target is restored")
	}
	eventually(t, 20*time.Second, "the canary to go", func() bool {
		_, ok := rt.Canary("test", "podinfo")
		return !ok
	})
	if !hasEvent(rt, "podinfo", "Terminating") || !hasEvent(rt, "podinfo", "Terminated") {
		t.Errorf("events = %+v; want Terminating then Terminated", canaryEvents(rt, "podinfo"))
	}
	if _, ok := deployment(rt, "podinfo-primary"); ok {
		t.Error("the primary is still there")
	}
	d, ok := deployment(rt, "podinfo")
	if !ok || *d.Deployment.Spec.Replicas != 1 || d.Ready != 1 {
		t.Fatalf("target = %+v, want 1 ready replica", d)
	}
	eventually(t, 5*time.Second, "the target to answer", func() bool { return isTargetPod(tr.lastHost()) })
	eventually(t, 10*time.Second, "the primary's pods to stop", func() bool { return len(podsOf(rt, "podinfo-primary")) == 0 })
	tr.end()
	if f := tr.failures(); len(f) > 0 {
		t.Errorf("%d requests failed while the target was restored, e.g. %s", len(f), f[0])
	}
}

// TestDeleteWithoutRevert deletes a Canary without revertOnDeletion: it
// goes at once, and the Service keeps being served: the target is scaled
// back up and the former primary serves until the target is ready.
func TestDeleteWithoutRevert(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	port := int32(freePortT(t))
	objs := testObjects(port)
	rt := startRuntime(t, testEngine, objs...)
	eventually(t, 20*time.Second, "Initialized", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseInitialized })
	tr := startTraffic(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	eventually(t, 5*time.Second, "the primary to answer", func() bool { return strings.HasPrefix(tr.lastHost(), "podinfo-primary-") })

	if out, err := rt.Delete(objs[2]); err != nil || len(out) != 1 || out[0] != "canary/podinfo deleted" {
		t.Fatalf("Delete = %q, %v", out, err)
	}
	if _, ok := rt.Canary("test", "podinfo"); ok {
		t.Fatal("the canary is still there")
	}
	eventually(t, 20*time.Second, "the primary to go", func() bool {
		_, ok := deployment(rt, "podinfo-primary")
		return !ok && len(podsOf(rt, "podinfo-primary")) == 0
	})
	if d, _ := deployment(rt, "podinfo"); *d.Deployment.Spec.Replicas != 1 || d.Ready != 1 {
		t.Fatalf("target = %+v, want 1 ready replica", d)
	}
	eventually(t, 5*time.Second, "the target to answer", func() bool { return isTargetPod(tr.lastHost()) })
	tr.end()
	if f := tr.failures(); len(f) > 0 {
		t.Errorf("%d requests failed during the handover, e.g. %s", len(f), f[0])
	}
}

// TestCommandNotFoundRollsBack releases a revision whose command does not
// exist: the Canary gets an event naming it, the canary never becomes
// ready, the progress deadline rolls it back with all traffic on the
// primary, and the broken revision is not restarted afterwards.
func TestCommandNotFoundRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	port := int32(freePortT(t))
	objs := testObjects(port)
	deadline := int32(5)
	objs[2].(*v1beta1.Canary).Spec.ProgressDeadlineSeconds = &deadline
	rt := startRuntime(t, testEngine, objs...)
	eventually(t, 20*time.Second, "Initialized", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseInitialized })
	tr := startTraffic(t, fmt.Sprintf("http://127.0.0.1:%d/", port))

	err := rt.UpdateDeployment("test", "podinfo", func(spec *corev1.PodSpec) error {
		spec.Containers[0].Command = []string{"podinfo-typo"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Failed", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseFailed })
	if !hasEvent(rt, "podinfo", "Failed", "podinfo-typo", "executable file not found") {
		t.Errorf("events = %+v; want one naming the missing command", canaryEvents(rt, "podinfo"))
	}
	if !hasEvent(rt, "podinfo", "Failed", "progress deadline exceeded") {
		t.Errorf("events = %+v; want the rollback at the progress deadline", canaryEvents(rt, "podinfo"))
	}
	for _, s := range rt.Snapshot().Services {
		if s.Service.Name != "podinfo" {
			continue
		}
		if len(s.Backends) != 2 || s.Backends[0].Weight != 100 || s.Backends[1].Weight != 0 {
			t.Errorf("backends = %+v, want all traffic on the primary", s.Backends)
		}
	}
	if d, _ := deployment(rt, "podinfo"); *d.Deployment.Spec.Replicas != 0 {
		t.Errorf("target replicas = %d, want 0", *d.Deployment.Spec.Replicas)
	}
	eventually(t, 10*time.Second, "the broken pods to stop", func() bool { return len(podsOf(rt, "podinfo")) == 0 })

	// Nothing of the broken revision starts again: no new pod event
	// during a few of the supervisor's restart periods.
	evs, _ := rt.Events(0)
	last := evs[len(evs)-1].Seq
	time.Sleep(2 * time.Second)
	after, _ := rt.Events(last)
	for _, e := range after {
		if e.Kind == "Pod" || (e.Kind == "Deployment" && e.Name == "podinfo") {
			t.Errorf("after the rollback: %s", e)
		}
	}
	if n := len(podsOf(rt, "podinfo")); n != 0 {
		t.Errorf("%d pods of the broken revision after the rollback", n)
	}
	tr.end()
	if f := tr.failures(); len(f) > 0 {
		t.Errorf("%d requests failed, e.g. %s", len(f), f[0])
	}
}

// gate is a webhook whose answer the test sets.
type gate struct {
	srv    *httptest.Server
	status atomic.Int32
	calls  atomic.Int32
}

func newGate(t *testing.T, status int) *gate {
	g := &gate{}
	g.status.Store(int32(status))
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		w.WriteHeader(int(g.status.Load()))
		fmt.Fprintf(w, "status %d on purpose", g.status.Load())
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func hooksEngine(a Adapters) Engine {
	h := hooks.New(hooks.Options{Backoff: 10 * time.Millisecond})
	return engine.New(a.Workload, a.Router, builtin.New(a.Telemetry, time.Now), h, h)
}

// TestWebhooksGateAndRollBack: a confirm-rollout webhook that answers 403
// holds the release in Waiting, with an event naming it, until it answers
// 200; a rollback webhook that answers 200 mid-analysis rolls back.
func TestWebhooksGateAndRollBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	confirm, rollback := newGate(t, http.StatusForbidden), newGate(t, http.StatusForbidden)
	port := int32(freePortT(t))
	objs := testObjects(port)
	canary := objs[2].(*v1beta1.Canary)
	canary.Spec.Analysis.StepWeight = 10
	canary.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{
		{Name: "approve", Type: v1beta1.ConfirmRolloutHook, URL: confirm.srv.URL},
		{Name: "abort-switch", Type: v1beta1.RollbackHook, URL: rollback.srv.URL},
	}
	rt := startRuntime(t, hooksEngine, objs...)
	eventually(t, 20*time.Second, "Initialized", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseInitialized })
	tr := startTraffic(t, fmt.Sprintf("http://127.0.0.1:%d/", port))

	if err := rt.SetImage("test", "podinfo", "app", "podinfo:1.7.1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "Waiting", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseWaiting })
	eventually(t, 5*time.Second, "an event naming the webhook", func() bool {
		return hasEvent(rt, "podinfo", "Waiting", "approve", "403")
	})
	// Still waiting after more ticks: the gate holds.
	calls := confirm.calls.Load()
	eventually(t, 10*time.Second, "more calls of the gate", func() bool { return confirm.calls.Load() >= calls+2 })
	if p := phaseOf(rt, "podinfo"); p != v1beta1.PhaseWaiting {
		t.Fatalf("phase = %s while the gate answers 403, want Waiting", p)
	}
	if d, _ := deployment(rt, "podinfo"); *d.Deployment.Spec.Replicas != 0 {
		t.Errorf("target scaled to %d before approval", *d.Deployment.Spec.Replicas)
	}

	confirm.status.Store(http.StatusOK)
	eventually(t, 20*time.Second, "the canary to get traffic", func() bool {
		c, _ := rt.Canary("test", "podinfo")
		return c.Status.Phase == v1beta1.PhaseProgressing && c.Status.CanaryWeight >= 10
	})

	rollback.status.Store(http.StatusOK)
	eventually(t, 10*time.Second, "Failed", func() bool { return phaseOf(rt, "podinfo") == v1beta1.PhaseFailed })
	if !hasEvent(rt, "podinfo", "Failed", "abort-switch") {
		t.Errorf("events = %+v; want the rollback naming its webhook", canaryEvents(rt, "podinfo"))
	}
	c, _ := rt.Canary("test", "podinfo")
	if c.Status.CanaryWeight != 0 || c.Status.LastPromotedSpec == c.Status.LastAppliedSpec {
		t.Errorf("status = %+v, want weight 0 and 1.7.1 not promoted", c.Status)
	}
	eventually(t, 10*time.Second, "the canary's pods to stop", func() bool { return len(podsOf(rt, "podinfo")) == 0 })
	tr.end()
	if f := tr.failures(); len(f) > 0 {
		t.Errorf("%d requests failed, e.g. %s", len(f), f[0])
	}
}

// TestTerminationSurvivesRestart: a Canary deleted with revertOnDeletion
// is still terminating after a restart of the runtime, and the next run
// finishes the termination.
func TestTerminationSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	port := int32(freePortT(t))
	objs := testObjects(port)
	canary := objs[2].(*v1beta1.Canary)
	canary.Spec.RevertOnDeletion = true
	rt, err := Open(Options{StateDir: dir, NewEngine: testEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Apply(objs...); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Delete(canary); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	rt, err = Open(Options{StateDir: dir, NewEngine: testEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := rt.Canary("test", "podinfo")
	if !ok || c.DeletionTimestamp == nil {
		_ = rt.Close()
		t.Fatalf("after a restart: canary %v (found %v), want it still being deleted", c, ok)
	}
	runTest(t, rt)
	eventually(t, 20*time.Second, "the canary to go", func() bool {
		_, ok := rt.Canary("test", "podinfo")
		return !ok
	})
	if !hasEvent(rt, "podinfo", "Terminated") {
		t.Errorf("events = %+v; want Terminated", canaryEvents(rt, "podinfo"))
	}
	if d, _ := deployment(rt, "podinfo"); *d.Deployment.Spec.Replicas != 1 {
		t.Errorf("target replicas = %d, want its own 1", *d.Deployment.Spec.Replicas)
	}
	eventually(t, 10*time.Second, "the Service to serve the target", func() bool {
		host, err := getHostname(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err == nil && isTargetPod(host)
	})
}
