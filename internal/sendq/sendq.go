// Package sendq sends in the background: one sender per destination, in
// the order the messages were queued, so that a destination that is slow
// or down delays nothing but its own messages. Alerts and event webhooks
// go through it, which keeps a release's tick from waiting on a receiver.
package sendq

import "sync"

// Queues holds a queue of sends per destination. The zero value is not
// usable: call New.
type Queues struct {
	max int

	mu      sync.Mutex
	queues  map[string][]func() // sends waiting, by destination; present while one is being sent
	senders sync.WaitGroup
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
	if !running {
		q.senders.Add(1)
		go q.drain(dest)
	}
	return true
}

// Flush waits until the sends queued by earlier Enqueue calls are done.
func (q *Queues) Flush() { q.senders.Wait() }

// drain runs the sends queued for dest, in order, until none is left.
func (q *Queues) drain(dest string) {
	defer q.senders.Done()
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
	}
}
