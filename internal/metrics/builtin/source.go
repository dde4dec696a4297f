package builtin

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/metrics/baseline"
	"github.com/serinhq/serin/internal/telemetry"
)

// The built-in metrics.
const (
	RequestSuccessRate = "request-success-rate"
	RequestDuration    = "request-duration"
)

// Stats reads the golden metrics of one backend over [from, to).
// *telemetry.Store implements it.
type Stats interface {
	Stats(namespace, deployment string, from, to time.Time) telemetry.Stats
}

// Source answers the built-in metrics from in-process telemetry.
type Source struct {
	stats   Stats
	now     func() time.Time
	history baseline.Cache
}

var _ engine.Source = (*Source)(nil)

// New returns a Source reading stats; now gives the end of every window.
func New(stats Stats, now func() time.Time) *Source {
	return &Source{stats: stats, now: now}
}

// Query implements engine.Source.
func (s *Source) Query(_ context.Context, c *v1beta1.Canary, m v1beta1.CanaryMetric, since time.Time) (judge.Observation, error) {
	if m.Name != RequestSuccessRate && m.Name != RequestDuration {
		return judge.Observation{}, fmt.Errorf("metric %q is not a built-in metric", m.Name)
	}
	interval := m.EffectiveInterval()
	d, err := time.ParseDuration(interval)
	if err != nil || d <= 0 {
		return judge.Observation{}, fmt.Errorf("metric %s: interval %q is not a positive duration", m.Name, interval)
	}
	now := s.now()
	canary, primary := c.Spec.TargetRef.Name, c.Spec.TargetRef.Name+"-primary"

	// The window ends now and begins an interval ago, but never before the
	// analysis of this revision began: the requests an earlier revision
	// served under the canary's name are not this one's.
	from := now.Add(-d)
	if since.After(from) && now.After(since) {
		from = since
	}
	st := s.stats.Stats(c.Namespace, canary, from, now)
	obs := judge.Observation{Metric: m.Name, Samples: st.Requests}
	v := st.SuccessRate
	if m.Name == RequestDuration {
		v = st.P99
	}
	if st.Requests > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
		obs.HasValue, obs.Value = true, v
	}

	if since.IsZero() || !now.After(since) {
		return obs, nil
	}
	obs.HasCounts = true
	obs.Canary = counts(s.stats.Stats(c.Namespace, canary, since, now))
	obs.Primary = counts(s.stats.Stats(c.Namespace, primary, since, now))
	// The primary's history before the analysis, read once per analysis:
	// it does not change, and the store's retention would cut its
	// beginning off as the analysis goes on.
	obs.Baseline, _ = s.history.Get(baseline.Key{Namespace: c.Namespace, Primary: primary, Metric: m.Name, Since: since},
		func() (judge.Counts, error) {
			return counts(s.stats.Stats(c.Namespace, primary, since.Add(-judge.BaselineSpan), since)), nil
		})
	return obs, nil
}

func counts(st telemetry.Stats) judge.Counts {
	return judge.Counts{
		Requests: st.Requests,
		Failures: st.Failures,
		Latency:  judge.Histogram{Bounds: slices.Clone(st.Bounds), Counts: slices.Clone(st.Buckets)},
	}
}
