package local

import (
	"fmt"
	"sync"
	"time"
)

// maxEvents is how many events the runtime keeps.
const maxEvents = 1000

// eventLog holds the recent events and wakes their watchers.
type eventLog struct {
	mu      sync.Mutex
	events  []Event
	seq     int64
	changed chan struct{} // closed and replaced on each new event
}

func newEventLog(events []Event) *eventLog {
	l := &eventLog{events: events, changed: make(chan struct{})}
	for _, e := range events {
		l.seq = max(l.seq, e.Seq)
	}
	return l
}

// add records an event; a repeat of the last event of the same object with
// the same reason and message is counted instead of recorded again, as
// Kubernetes does, so a crash loop does not flood the log.
func (l *eventLog) add(now time.Time, e Event) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Time = now
	if e.Count == 0 {
		e.Count = 1
	}
	for i := len(l.events) - 1; i >= 0 && i >= len(l.events)-20; i-- {
		p := &l.events[i]
		if p.Kind == e.Kind && p.Namespace == e.Namespace && p.Name == e.Name && p.Reason == e.Reason && p.Message == e.Message {
			l.seq++
			p.Count++
			p.Time, p.Seq = now, l.seq
			// Move it to the end so that watchers see it again.
			moved := *p
			l.events = append(append(l.events[:i:i], l.events[i+1:]...), moved)
			l.wakeLocked()
			return moved
		}
	}
	l.seq++
	e.Seq = l.seq
	l.events = append(l.events, e)
	if len(l.events) > maxEvents {
		l.events = append([]Event(nil), l.events[len(l.events)-maxEvents:]...)
	}
	l.wakeLocked()
	return e
}

func (l *eventLog) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// since returns the events after seq and a channel closed on the next
// event.
func (l *eventLog) since(seq int64) ([]Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out, l.changed
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// String formats an event as one line.
func (e Event) String() string {
	s := fmt.Sprintf("%s %-7s %-16s %s/%s %s", e.Time.Format("15:04:05"), e.Type, e.Reason, e.Kind, e.Name, e.Message)
	if e.Count > 1 {
		s += fmt.Sprintf(" (x%d)", e.Count)
	}
	return s
}
