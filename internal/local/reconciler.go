package local

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// minRequeue bounds how often one Canary is reconciled.
const minRequeue = 100 * time.Millisecond

// maxConcurrentTicks bounds the Canaries ticked at once.
const maxConcurrentTicks = 8

// ticking marks, in Runtime.due, a Canary whose tick is running. A change
// that wants it ticked again deletes the mark (or resets Runtime.due), as it
// deletes a due time, and the Canary is then due at once when the tick ends.
var ticking = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// canaryLoop reconciles each Canary when it is due: a Canary's next tick is
// what its last Decision asked for, or now when it changed or got a
// command. Up to maxConcurrentTicks Canaries tick at once, and one Canary
// never twice at the same time, so a slow webhook or metric query of one
// Canary does not hold up the others.
func (r *Runtime) canaryLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxConcurrentTicks)
	running := map[string]bool{} // under r.mu
	for {
		now := r.now()
		r.mu.Lock()
		var dueKeys []string
		next := now.Add(time.Hour)
		for _, k := range sortedKeys(r.obj.canaries) {
			at, ok := r.due[k]
			switch {
			case running[k]:
			case !ok || !at.After(now):
				dueKeys = append(dueKeys, k)
				running[k] = true
				r.due[k] = ticking
			case at.Before(next):
				next = at
			}
		}
		r.mu.Unlock()

		for _, k := range dueKeys {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				after := r.tick(ctx, k)
				<-slots
				r.mu.Lock()
				delete(running, k)
				if at, ok := r.due[k]; ok && at.Equal(ticking) {
					r.due[k] = r.now().Add(max(after, minRequeue))
				}
				r.mu.Unlock()
				r.wakeCanaries()
			})
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.wake:
		}
	}
}

// tick reconciles one Canary once and returns when to tick it again.
func (r *Runtime) tick(ctx context.Context, k string) time.Duration {
	r.mu.Lock()
	stored, ok := r.obj.canaries[k]
	if !ok {
		delete(r.due, k)
		r.mu.Unlock()
		return time.Hour
	}
	c := stored.DeepCopy()
	cmd := r.commands[k]
	delete(r.commands, k)
	r.mu.Unlock()

	c.Default()
	deleting := c.DeletionTimestamp != nil
	if deleting {
		r.mu.Lock()
		_, hasTarget := r.obj.deployments[key(c.Namespace, c.Spec.TargetRef.Name)]
		if !hasTarget {
			r.finalizeLocked(c, fmt.Sprintf("deployment %s not found, nothing to restore", c.Spec.TargetRef.Name))
			r.saveLocked()
			r.kickSync()
			r.mu.Unlock()
			return time.Hour
		}
		r.mu.Unlock()
	}
	now := r.now()
	dec, err := r.engine.Tick(ctx, c, cmd, deleting, now)
	if err != nil {
		// The tick changed nothing: its command waits for the next one,
		// unless a newer command came meanwhile.
		if cmd != rollout.NoCommand {
			r.mu.Lock()
			if _, newer := r.commands[k]; !newer {
				r.commands[k] = cmd
			}
			r.mu.Unlock()
		}
		if ctx.Err() != nil {
			return time.Hour
		}
		r.record(Event{Type: "Warning", Reason: "ReconcileError", Kind: "Canary", Namespace: c.Namespace, Name: c.Name, Message: err.Error()})
		return c.Spec.Analysis.IntervalDuration()
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.obj.canaries[k]; ok {
		cur.Status = dec.Status
		cur.Status.ObservedGeneration = cur.Generation
	}
	for _, e := range dec.Events {
		r.recordLocked(Event{Type: string(e.Type), Reason: e.Reason, Kind: "Canary", Namespace: c.Namespace, Name: c.Name, Message: e.Message})
	}
	if deleting && dec.Status.Phase == v1beta1.PhaseTerminated {
		r.finalizeLocked(c, fmt.Sprintf("deployment %s restored", c.Spec.TargetRef.Name))
	}
	r.saveLocked()
	r.kickSync()
	if dec.RequeueAfter <= 0 {
		return c.Spec.Analysis.IntervalDuration()
	}
	return dec.RequeueAfter
}

// Command gives a Canary a manual command (promote, abort, pause,
// resume, retry), carried out at its next tick, which comes at once.
func (r *Runtime) Command(ns, name string, cmd rollout.Command) error {
	if !cmd.Valid() {
		return fmt.Errorf("command %q: must be promote, abort, pause, resume or retry", cmd)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(ns, name)
	if _, ok := r.obj.canaries[k]; !ok {
		return fmt.Errorf("canary %s/%s: %w", ns, name, ErrNotFound)
	}
	r.commands[k] = cmd
	delete(r.due, k)
	r.wakeCanaries()
	return nil
}

// Canary returns a copy of a Canary.
func (r *Runtime) Canary(ns, name string) (*v1beta1.Canary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.obj.canaries[key(ns, name)]
	if !ok {
		return nil, false
	}
	return c.DeepCopy(), true
}
