package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions configure a load generator.
type LoadOptions struct {
	// URL is requested with Method (GET when empty), Header and Body;
	// Host, when set, replaces the URL's host in the Host header.
	URL    string
	Method string
	Header http.Header
	Body   []byte
	Host   string
	// QPS is the rate of each of Concurrency request streams, so the total
	// rate is QPS*Concurrency, as slow_cooker counts it. Zero means no
	// rate: each stream sends its next request when the last is answered
	// (closed loop, as hey without -q).
	QPS         float64
	Concurrency int
	// Requests, when positive, ends the load once that many requests have
	// been sent and answered (or failed); otherwise it runs until ctx ends.
	Requests int
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
	// Summary, when set, is called once at the end with the results of the
	// whole run (requests still in flight when ctx ends are not counted).
	Summary func(Report)
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
	// LastError is the last transport error of a failed request.
	LastError string
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
	err     string
}

// RunLoad sends requests at a constant rate until ctx ends (or Requests
// are done). Each request is started on schedule in its own goroutine, so
// slow answers do not lower the rate (open loop); with QPS zero each
// stream waits for an answer before the next request (closed loop).
func RunLoad(ctx context.Context, opts LoadOptions) error {
	if opts.QPS < 0 {
		return fmt.Errorf("qps: must not be negative, got %g", opts.QPS)
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
	method := opts.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, opts.URL, nil)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	for k, vs := range opts.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if opts.Host != "" {
		req.Host = opts.Host
	}

	results := make(chan outcome, opts.MaxInFlight)
	slots := make(chan struct{}, opts.MaxInFlight)
	var streams, flights sync.WaitGroup
	defer flights.Wait()
	defer streams.Wait()

	// take hands out the Requests to send; always true without a limit.
	var left atomic.Int64
	left.Store(int64(opts.Requests))
	take := func() bool { return opts.Requests <= 0 || left.Add(-1) >= 0 }

	send := func(o outcome) {
		select {
		case results <- o:
		case <-ctx.Done():
		}
	}
	do := func() outcome {
		r := req.Clone(ctx)
		if opts.Body != nil {
			r.Body = io.NopCloser(bytes.NewReader(opts.Body))
			r.ContentLength = int64(len(opts.Body))
		}
		start := time.Now()
		resp, err := opts.Client.Do(r)
		if err != nil {
			return outcome{err: err.Error()}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return outcome{code: resp.StatusCode, latency: time.Since(start)}
	}
	fire := func() {
		select {
		case slots <- struct{}{}:
		default:
			send(outcome{err: "too many requests in flight"})
			return
		}
		flights.Go(func() {
			defer func() { <-slots }()
			send(do())
		})
	}

	for range opts.Concurrency {
		streams.Go(func() {
			if opts.QPS == 0 {
				for ctx.Err() == nil && take() {
					send(do())
				}
				return
			}
			t := time.NewTicker(time.Duration(float64(time.Second) / opts.QPS))
			defer t.Stop()
			for take() {
				fire()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	// done is closed once every stream has stopped and every request it
	// started has an outcome.
	done := make(chan struct{})
	go func() {
		streams.Wait()
		flights.Wait()
		close(done)
	}()

	report := time.NewTicker(opts.Interval)
	defer report.Stop()
	var window, all []outcome
	finish := func() {
		if opts.Summary != nil {
			opts.Summary(summarize(time.Now(), all))
		}
	}
	for {
		select {
		case <-ctx.Done():
			finish()
			return nil
		case o := <-results:
			window = append(window, o)
			if opts.Summary != nil {
				all = append(all, o)
			}
		case <-done:
			for len(results) > 0 {
				o := <-results
				window = append(window, o)
				all = append(all, o)
			}
			if opts.Report != nil && len(window) > 0 {
				opts.Report(summarize(time.Now(), window))
			}
			finish()
			return nil
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
			r.LastError = o.err
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
