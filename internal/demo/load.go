package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// LoadOptions configure a load generator.
type LoadOptions struct {
	// URL is requested with GET.
	URL string
	// QPS is the rate of each of Concurrency request streams, so the total
	// rate is QPS*Concurrency, as slow_cooker counts it.
	QPS         float64
	Concurrency int
	// Interval between reports.
	Interval time.Duration
	// MaxInFlight bounds the requests waiting for a response; a request due
	// while the bound is reached is counted as failed, so the rate of
	// attempts never drops. Defaults to 1000.
	MaxInFlight int
	// Timeout of one request. Defaults to 10s.
	Timeout time.Duration
	// Client sends the requests; nil means a client with Timeout.
	Client *http.Client
	// Report is called with the results of each interval.
	Report func(Report)
}

// Report is what one interval of load saw.
type Report struct {
	// End of the interval.
	End time.Time
	// Requests sent whose outcome is known; Good answered below 500,
	// Bad answered 5xx, Failed did not get an answer.
	Requests, Good, Bad, Failed int
	// Latencies of the answered requests: min, percentiles and max.
	Min, P50, P95, P99, Max time.Duration
}

// SuccessRate is the share of good requests, in percent; 100 when there
// were none.
func (r Report) SuccessRate() float64 {
	if r.Requests == 0 {
		return 100
	}
	return float64(r.Good) / float64(r.Requests) * 100
}

// String formats the report as one line.
func (r Report) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }
	return fmt.Sprintf("%s %4d/%d/%d %6.2f%% min %s [p50 %s p95 %s p99 %s] max %s ms",
		r.End.Format("15:04:05"), r.Good, r.Bad, r.Failed, r.SuccessRate(),
		ms(r.Min), ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
}

type outcome struct {
	code    int // 0: no answer
	latency time.Duration
}

// RunLoad sends requests at a constant rate until ctx ends. Each request is
// started on schedule in its own goroutine, so slow answers do not lower
// the rate (open loop).
func RunLoad(ctx context.Context, opts LoadOptions) error {
	if opts.QPS <= 0 {
		return fmt.Errorf("qps: must be positive, got %g", opts.QPS)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, opts.URL, nil)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}

	results := make(chan outcome, opts.MaxInFlight)
	slots := make(chan struct{}, opts.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()

	send := func(o outcome) {
		select {
		case results <- o:
		case <-ctx.Done():
		}
	}
	fire := func() {
		select {
		case slots <- struct{}{}:
		default:
			send(outcome{})
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			start := time.Now()
			resp, err := opts.Client.Do(req.Clone(ctx))
			if err != nil {
				send(outcome{})
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			send(outcome{code: resp.StatusCode, latency: time.Since(start)})
		})
	}

	period := time.Duration(float64(time.Second) / opts.QPS)
	for range opts.Concurrency {
		wg.Go(func() {
			t := time.NewTicker(period)
			defer t.Stop()
			fire()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					fire()
				}
			}
		})
	}

	report := time.NewTicker(opts.Interval)
	defer report.Stop()
	var window []outcome
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-results:
			window = append(window, o)
		case now := <-report.C:
			if opts.Report != nil {
				opts.Report(summarize(now, window))
			}
			window = window[:0]
		}
	}
}

func summarize(end time.Time, window []outcome) Report {
	r := Report{End: end, Requests: len(window)}
	var lat []time.Duration
	for _, o := range window {
		switch {
		case o.code == 0:
			r.Failed++
		case o.code >= 500:
			r.Bad++
		default:
			r.Good++
		}
		if o.code != 0 {
			lat = append(lat, o.latency)
		}
	}
	if len(lat) == 0 {
		return r
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	r.Min, r.Max = lat[0], lat[len(lat)-1]
	r.P50, r.P95, r.P99 = q(0.50), q(0.95), q(0.99)
	return r
}
