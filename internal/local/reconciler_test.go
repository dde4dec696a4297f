package local

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// blockingEngine holds the ticks of the Canary named slow until release is
// closed and counts every Canary's ticks, and the most ticks of one Canary
// that ever ran at once.
type blockingEngine struct {
	release chan struct{}

	mu      sync.Mutex
	ticks   map[string]int
	running map[string]int
	most    int
}

func (e *blockingEngine) Tick(ctx context.Context, c *v1beta1.Canary, _ rollout.Command, _ bool, _ time.Time) (rollout.Decision, error) {
	e.mu.Lock()
	e.ticks[c.Name]++
	e.running[c.Name]++
	e.most = max(e.most, e.running[c.Name])
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running[c.Name]--
		e.mu.Unlock()
	}()
	if c.Name == "slow" {
		select {
		case <-e.release:
		case <-ctx.Done():
		}
	}
	return rollout.Decision{Status: c.Status, RequeueAfter: 100 * time.Millisecond}, nil
}

func (e *blockingEngine) count(name string) (ticks, most int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ticks[name], e.most
}

// TestSlowTickHoldsUpNoOtherCanary: while one Canary's tick waits (a slow
// webhook, a metric query that hangs), the others keep ticking, and the
// slow one is not ticked again until its tick returns.
func TestSlowTickHoldsUpNoOtherCanary(t *testing.T) {
	eng := &blockingEngine{release: make(chan struct{}), ticks: map[string]int{}, running: map[string]int{}}
	canary := func(name string) *v1beta1.Canary {
		port := int32(freePortT(t))
		return &v1beta1.Canary{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "test"},
			Spec: v1beta1.CanarySpec{
				TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				Service:   v1beta1.CanaryService{Port: port},
				Analysis:  &v1beta1.CanaryAnalysis{Interval: "1s", StepWeight: 10},
			},
		}
	}
	startRuntime(t, func(Adapters) Engine { return eng }, canary("slow"), canary("fast"))

	eventually(t, 5*time.Second, "the slow canary's first tick", func() bool {
		n, _ := eng.count("slow")
		return n == 1
	})
	eventually(t, 5*time.Second, "5 ticks of the fast canary while the slow one waits", func() bool {
		n, _ := eng.count("fast")
		return n >= 5
	})
	if n, most := eng.count("slow"); n != 1 || most != 1 {
		t.Errorf("slow canary: %d ticks started, at most %d of one canary at once; want 1 and 1 while its tick waits", n, most)
	}
	close(eng.release)
	eventually(t, 5*time.Second, "the slow canary to tick again once released", func() bool {
		n, _ := eng.count("slow")
		return n >= 2
	})
	if _, most := eng.count("slow"); most != 1 {
		t.Errorf("at most %d ticks of one canary ran at once, want 1", most)
	}
}
