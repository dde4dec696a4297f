// Package sendq sends in the background: one sender per destination, in
// the order the messages were queued, so that a destination that is slow
// or down delays nothing but its own messages. Alerts and event webhooks
// go through it, which keeps a release's tick from waiting on a receiver.
package sendq

import (
	"context"
	"fmt"
	"sync"
)

// Queues holds a queue of sends per destination. The zero value is not
// usable: call New.
type Queues struct {
	max int

	mu     sync.Mutex
	queues map[string][]func() // sends waiting, by destination; present while one is being sent
	// pending counts the sends queued and not done; idle is closed when
	// it falls to zero.
	pending int
	idle    chan struct{}
}

// New returns Queues that hold at most max sends waiting per destination.
func New(max int) *Queues {
	return &Queues{max: max, queues: map[string][]func(){}}
}

// Max is how many sends may wait for one destination.
func (q *Queues) Max() int { return q.max }

// Enqueue queues send for dest, starting a sender for dest unless one is
// running, and returns at once. It returns false, and drops send, when max
// sends already wait for dest.
func (q *Queues) Enqueue(dest string, send func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting, running := q.queues[dest]
	if len(waiting) >= q.max {
		return false
	}
	q.queues[dest] = append(waiting, send)
	if q.pending++; q.pending == 1 {
		q.idle = make(chan struct{})
	}
	if !running {
		go q.drain(dest)
	}
	return true
}

// Flush waits until the sends queued by earlier Enqueue calls are done.
func (q *Queues) Flush() { _ = q.Drain(context.Background()) }

// Drain waits until every send queued is done, or ctx ends: then it
// returns an error saying how many were not. A runtime that stops drains
// its queues, so that the alerts of its last decisions are not lost.
func (q *Queues) Drain(ctx context.Context) error {
	q.mu.Lock()
	if q.pending == 0 {
		q.mu.Unlock()
		return nil
	}
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		return fmt.Errorf("%d not sent: %w", q.pending, ctx.Err())
	}
}

// drain runs the sends queued for dest, in order, until none is left.
func (q *Queues) drain(dest string) {
	for {
		q.mu.Lock()
		waiting := q.queues[dest]
		if len(waiting) == 0 {
			delete(q.queues, dest)
			q.mu.Unlock()
			return
		}
		send := waiting[0]
		q.queues[dest] = waiting[1:]
		q.mu.Unlock()
		send()
		q.mu.Lock()
		if q.pending--; q.pending == 0 {
			close(q.idle)
		}
		q.mu.Unlock()
	}
}
