// Package baseline remembers the primary's history before an analysis,
// which metric sources read once per analysis rather than at every
// evaluation.
//
// The history is the span of judge.BaselineSpan that ends when the analysis
// began, so it does not change while the analysis runs: reading it once
// spares Prometheus an hour-long range query per metric every two seconds,
// and keeps it whole for a source whose own retention would otherwise cut
// its beginning off as the analysis goes on.
package baseline

import (
	"sync"
	"time"

	"github.com/serinhq/serin/internal/judge"
)

// Key names one history: the primary's workload, the metric read and the
// moment the analysis began.
type Key struct {
	Namespace string
	Primary   string
	Metric    string
	Since     time.Time
}

// DefaultSize is how many histories a Cache holds before it starts over:
// two metrics for each of 8192 analyses at a time.
const DefaultSize = 16384

// Cache holds histories read before. The zero value is ready to use. It is
// safe for concurrent use.
type Cache struct {
	// Size is how many histories it holds before it forgets them all and
	// starts over; 0 means DefaultSize.
	Size int

	mu sync.Mutex
	m  map[Key]judge.Counts
}

// Get returns the history under k, reading it with read when it is not
// held. Only a history with requests in it is kept: an error, or no data
// yet, is read again next time.
func (c *Cache) Get(k Key, read func() (judge.Counts, error)) (judge.Counts, error) {
	k.Since = k.Since.UTC().Round(0)
	c.mu.Lock()
	h, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := read()
	if err != nil || h.Requests <= 0 {
		return h, err
	}
	size := c.Size
	if size <= 0 {
		size = DefaultSize
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= size {
		c.m = make(map[Key]judge.Counts)
	}
	c.m[k] = h
	return h, nil
}
