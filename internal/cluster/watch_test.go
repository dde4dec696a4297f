package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// countingProm counts queries and fails while err is set.
type countingProm struct {
	queries atomic.Int64
	mu      sync.Mutex
	err     error
}

func (p *countingProm) Vector(context.Context, string, time.Time) (model.Vector, error) {
	p.queries.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	return model.Vector{sample(10, "namespace", "test", "deployment", "podinfo", "classification", "success")}, p.err
}

// TestStatsShared checks that callers within the TTL share one set of
// Prometheus queries, that a later caller gets a new set, and that a
// failure is kept longer and logged once.
func TestStatsShared(t *testing.T) {
	prom := &countingProm{}
	var logs bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var clock sync.Mutex
	w := &Watcher{opts: WatchOptions{Prometheus: prom, StatsTTL: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time {
			clock.Lock()
			defer clock.Unlock()
			return now
		}},
		stats: statsCache{entries: map[time.Duration]*statsEntry{}}}
	advance := func(d time.Duration) {
		clock.Lock()
		now = now.Add(d)
		clock.Unlock()
	}
	query := func() (map[string]StatRow, error) { return w.linkerdStats(t.Context(), time.Minute) }

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if rows, err := query(); err != nil || !rows["test/podinfo"].HasTraffic {
				t.Errorf("rows %v, %v", rows, err)
			}
		})
	}
	wg.Wait()
	perSet := int64(5) // response_total, three quantiles, tcp_open_connections
	if n := prom.queries.Load(); n != perSet {
		t.Fatalf("20 callers made %d queries, want one set of %d", n, perSet)
	}
	advance(time.Second)
	_, _ = query()
	if n := prom.queries.Load(); n != perSet {
		t.Errorf("a caller within the TTL queried again (%d queries)", n)
	}
	advance(2 * time.Second)
	prom.mu.Lock()
	prom.err = errors.New("connection refused")
	prom.mu.Unlock()
	if _, err := query(); err == nil {
		t.Errorf("a failing Prometheus gave no error")
	}
	n := prom.queries.Load()
	advance(5 * time.Second) // beyond the TTL, within a failure's
	if _, err := query(); err == nil || prom.queries.Load() != n {
		t.Errorf("a failure was not kept: %v, %d queries after %d", err, prom.queries.Load(), n)
	}
	advance(10 * time.Second)
	_, _ = query()
	if c := strings.Count(logs.String(), "golden metrics unavailable"); c != 1 {
		t.Errorf("the same failure was logged %d times, want once:\n%s", c, logs.String())
	}
}

func TestPodStatus(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo-7c9f-x2x", Labels: map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "7c9f"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "podinfo-7c9f"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}},
				{Name: "sidecar", RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		},
	}
	s := podStatus(p)
	if s.Deployment != "podinfo" || s.Revision != "7c9f" || s.Ready || s.Running || s.Restarts != 4 ||
		s.Reason != "CrashLoopBackOff: back-off 40s" || !s.Started.Equal(started.Time) {
		t.Errorf("podStatus = %+v", s)
	}
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	p.Status.Conditions[0].Status = corev1.ConditionTrue
	if s := podStatus(p); !s.Running || !s.Ready || s.Reason != "" {
		t.Errorf("running pod: %+v", s)
	}
	p.OwnerReferences = nil
	if s := podStatus(p); s.Deployment != "" {
		t.Errorf("a pod without a ReplicaSet is of Deployment %q", s.Deployment)
	}
}

// TestWatcherUnreachable checks that a Watcher of an API server that does
// not answer says so instead of failing or waiting silently.
func TestWatcherUnreachable(t *testing.T) {
	w, err := NewWatcher(&rest.Config{Host: "http://127.0.0.1:1"}, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	sctx, scancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer scancel()
	_, err = w.Snapshot(sctx)
	if err == nil || !strings.Contains(err.Error(), "discovery") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Snapshot of an unreachable cluster: %v, want the discovery error", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start: %v", err)
	}
}
