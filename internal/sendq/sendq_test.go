package sendq

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Sends to one destination run in order; a destination that blocks holds neither Enqueue nor another destination; past max
// waiting, sends are dropped; Flush waits for all.
func TestQueues(t *testing.T) {
	q := New(3)
	var (
		mu  sync.Mutex
		got = map[string][]int{}
	)
	send := func(dest string, i int) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			got[dest] = append(got[dest], i)
		}
	}

	release := make(chan struct{})
	started := make(chan struct{})
	if !q.Enqueue("slow", func() { close(started); <-release }) {
		t.Fatal("first send refused")
	}
	<-started // the slow destination's sender is busy: 3 more may wait
	for i := range 5 {
		if ok := q.Enqueue("slow", send("slow", i)); ok != (i < 3) {
			t.Errorf("send %d to a full queue: queued %t, want %t", i, ok, i < 3)
		}
	}
	for i := range 3 {
		q.Enqueue("fast", send("fast", i))
	}
	done := make(chan struct{})
	go func() {
		for {
			mu.Lock()
			n := len(got["fast"])
			mu.Unlock()
			if n == 3 {
				close(done)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked destination held another")
	}
	close(release)
	q.Flush()
	if fmt.Sprint(got) != "map[fast:[0 1 2] slow:[0 1 2]]" {
		t.Errorf("sent %v, want each destination's in order, the overflow dropped", got)
	}
	// After a flush a destination starts over.
	if !q.Enqueue("slow", send("slow", 9)) {
		t.Error("queue still full after Flush")
	}
	q.Flush()
	if len(got["slow"]) != 4 {
		t.Errorf("slow got %v", got["slow"])
	}
}

// Drain waits for what is queued, or says how much is left when its
// context ends first.
func TestDrain(t *testing.T) {
	q := New(10)
	if err := q.Drain(context.Background()); err != nil {
		t.Errorf("drain of nothing: %v", err)
	}
	release := make(chan struct{})
	for range 3 {
		q.Enqueue("slow", func() { <-release })
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Drain(ctx); err == nil || err.Error() != "3 not sent: context canceled" {
		t.Errorf("drain cut short: %v, want 3 not sent", err)
	}
	close(release)
	if err := q.Drain(context.Background()); err != nil {
		t.Errorf("drain: %v", err)
	}
}
