package cluster

import (
	"context"
	"math"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/telemetry"
)

// statsTimeout bounds one set of Prometheus queries.
const statsTimeout = 10 * time.Second

// statsCache holds the last Prometheus answers per window, so that every
// browser polling within the TTL shares one set of queries.
type statsCache struct {
	mu      sync.Mutex
	entries map[time.Duration]*statsEntry
	lastErr string // the last failure logged, to log each change once
}

type statsEntry struct {
	done chan struct{} // closed once rows and err are set
	at   time.Time
	rows map[string]StatRow
	err  error
}

// Stats returns each Deployment's golden metrics over window from
// Linkerd's metrics in Prometheus, or none without Prometheus. When
// Prometheus fails, the Deployments are returned without traffic and the
// failure is logged, so that the page still shows the rest.
func (w *Watcher) Stats(ctx context.Context, window time.Duration) ([]local.DeploymentStat, error) {
	if w.opts.Prometheus == nil {
		return nil, nil
	}
	if err := w.waitSynced(ctx); err != nil {
		return nil, err
	}
	rows, err := w.linkerdStats(ctx, window)
	if err != nil && ctx.Err() != nil {
		return nil, err // this request's own deadline, not Prometheus
	}
	var out []local.DeploymentStat
	pods := func(yield func(*corev1.Pod) bool) {
		for _, o := range w.pods.GetStore().List() {
			if p, ok := o.(*corev1.Pod); ok && !yield(p) {
				return
			}
		}
	}
	for _, o := range w.deploys.GetStore().List() {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		s := local.DeploymentStat{Namespace: d.Namespace, Name: d.Name, Meshed: meshedOf(d, pods)}
		if r, ok := rows[d.Namespace+"/"+d.Name]; ok && r.HasTraffic {
			s.HasTraffic, s.Stats = true, telemetryOf(r, window)
		}
		out = append(out, s)
	}
	return out, nil
}

// linkerdStats returns LinkerdStats over window, from the cache when an
// answer is younger than the TTL (a failure is kept five times as long);
// concurrent callers wait for one set of queries.
func (w *Watcher) linkerdStats(ctx context.Context, window time.Duration) (map[string]StatRow, error) {
	c := &w.stats
	now := w.opts.Now()
	c.mu.Lock()
	e, ok := c.entries[window]
	fresh := func(e *statsEntry) bool {
		select {
		case <-e.done:
		default:
			return true // in flight
		}
		ttl := w.opts.StatsTTL
		if e.err != nil {
			ttl *= 5
		}
		return now.Sub(e.at) < ttl
	}
	if !ok || !fresh(e) {
		for k, old := range c.entries { // drop other windows' stale answers
			if !fresh(old) {
				delete(c.entries, k)
			}
		}
		e = &statsEntry{done: make(chan struct{})}
		c.entries[window] = e
		go w.queryStats(e, window)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.rows, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// queryStats runs one set of queries for e, logging a failure that
// differs from the last one.
func (w *Watcher) queryStats(e *statsEntry, window time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	rows, err := LinkerdStats(ctx, w.opts.Prometheus, StatDeployment, w.opts.Namespace, window, w.opts.Now())
	c := &w.stats
	c.mu.Lock()
	e.rows, e.err, e.at = rows, err, w.opts.Now()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	changed := msg != c.lastErr
	c.lastErr = msg
	c.mu.Unlock()
	switch {
	case changed && err != nil:
		w.opts.Logger.Warn("dashboard: golden metrics unavailable", "err", err)
	case changed:
		w.opts.Logger.Info("dashboard: golden metrics available again")
	}
	close(e.done)
}

// telemetryOf is a stat row in the local runtime's terms. Requests and
// failures are estimated from the rate over the window; a latency
// PromQL had no value for is 0.
func telemetryOf(r StatRow, window time.Duration) telemetry.Stats {
	finite := func(p *float64) float64 {
		if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
			return 0
		}
		return *p
	}
	req := int64(math.Round(r.RPS * window.Seconds()))
	return telemetry.Stats{
		Requests:    req,
		Failures:    int64(math.Round(float64(req) * (100 - r.Success) / 100)),
		SuccessRate: r.Success,
		RPS:         r.RPS,
		P50:         finite(r.P50),
		P95:         finite(r.P95),
		P99:         finite(r.P99),
	}
}
