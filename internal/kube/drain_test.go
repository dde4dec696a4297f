package kube

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/serinhq/serin/internal/engine"
)

// stoppedManager is a manager whose Start returns at once, as when its
// context ends.
type stoppedManager struct {
	ctrl.Manager
	started bool
}

func (m *stoppedManager) Start(context.Context) error {
	m.started = true
	return nil
}

type drainer struct {
	afterStart  bool
	hadDeadline bool
	live        bool // the context was not done yet
	mgr         *stoppedManager
	err         error
}

func (d *drainer) Drain(ctx context.Context) error {
	_, d.hadDeadline = ctx.Deadline()
	d.live = ctx.Err() == nil
	d.afterStart = d.mgr.started
	return d.err
}

// The controller's manager drains every notifier once it has stopped,
// within a deadline, even when the context it ran with is done, and logs
// what was left unsent.
func TestManagerDrainsNotifiersWhenStopped(t *testing.T) {
	mgr := &stoppedManager{}
	ok, late := &drainer{mgr: mgr}, &drainer{mgr: mgr, err: errors.New("alerts: 2 not sent: context deadline exceeded")}
	var log strings.Builder
	m := &drainingManager{Manager: mgr, notifiers: []engine.Drainer{ok, late}, log: slog.New(slog.NewTextHandler(&log, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, d := range []*drainer{ok, late} {
		if !d.afterStart || !d.hadDeadline || !d.live {
			t.Errorf("notifier %d: drained after the manager stopped %t, with a deadline %t, not yet done %t", i, d.afterStart, d.hadDeadline, d.live)
		}
	}
	if !strings.Contains(log.String(), `msg="stopped with messages unsent" err="alerts: 2 not sent`) {
		t.Errorf("log:\n%s", log.String())
	}
}
