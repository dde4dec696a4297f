package loadtester

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/serinhq/serin/internal/demo"
)

// heyLoad is a hey command line read into serin's load generator.
type heyLoad struct {
	opts     demo.LoadOptions
	duration time.Duration // -z; zero means -n requests
}

// headerFlags collects repeated -H flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// parseHey reads hey's command line (args without "hey"), with hey's flags
// and defaults: -n 200 requests, -c 50 workers, -q 0 (no rate limit) per
// worker, -z duration (then -n is ignored), -m GET, -H repeated headers,
// -d body, -T content type, -A accept, -a basic auth, -t timeout in
// seconds (20, 0 for none), -host, -x proxy, and -h2,
// -disable-compression, -disable-keepalive, -disable-redirects. It
// refuses a missing URL, extra arguments and hey's -o and -D (output and
// body files).
func parseHey(args []string) (*heyLoad, error) {
	fs := flag.NewFlagSet("hey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var headers headerFlags
	n := fs.Int("n", 200, "")
	c := fs.Int("c", 50, "")
	q := fs.Float64("q", 0, "")
	z := fs.Duration("z", 0, "")
	m := fs.String("m", "GET", "")
	fs.Var(&headers, "H", "")
	d := fs.String("d", "", "")
	ct := fs.String("T", "text/html", "")
	accept := fs.String("A", "", "")
	auth := fs.String("a", "", "")
	timeout := fs.Int("t", 20, "")
	host := fs.String("host", "", "")
	proxy := fs.String("x", "", "")
	fs.Bool("h2", false, "")
	noCompression := fs.Bool("disable-compression", false, "")
	noKeepAlive := fs.Bool("disable-keepalive", false, "")
	noRedirects := fs.Bool("disable-redirects", false, "")
	fs.Int("cpus", 0, "")
	fs.String("o", "", "")
	fs.String("D", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("hey: %w", err)
	}
	var unsupported []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "o" || f.Name == "D" {
			unsupported = append(unsupported, "-"+f.Name)
		}
	})
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("hey: %s not supported by serin's load generator", strings.Join(unsupported, ", "))
	}
	switch {
	case fs.NArg() == 0:
		return nil, errors.New("hey: no URL")
	case fs.NArg() > 1:
		return nil, fmt.Errorf("hey: unexpected arguments after the URL: %q (shell syntax needs type: bash)", fs.Args()[1:])
	case *c <= 0:
		return nil, fmt.Errorf("hey: -c must be positive, got %d", *c)
	case *q < 0:
		return nil, fmt.Errorf("hey: -q must not be negative, got %g", *q)
	case *z < 0:
		return nil, fmt.Errorf("hey: -z must not be negative, got %v", *z)
	case *timeout < 0:
		return nil, fmt.Errorf("hey: -t must not be negative, got %d", *timeout)
	case *z == 0 && *n <= 0:
		return nil, fmt.Errorf("hey: -n must be positive, got %d", *n)
	case *z == 0 && *n < *c:
		return nil, fmt.Errorf("hey: -n cannot be less than -c (%d < %d)", *n, *c)
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hey: %q is not an absolute http or https URL", fs.Arg(0))
	}
	h := http.Header{}
	h.Set("Content-Type", *ct)
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("hey: -H %q is not a \"Name: value\" header", kv)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *accept != "" {
		h.Set("Accept", *accept)
	}
	if *auth != "" {
		if !strings.Contains(*auth, ":") {
			return nil, fmt.Errorf("hey: -a %q is not user:password", *auth)
		}
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(*auth)))
	}

	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // as hey: load tests target canaries with any certificate
		MaxIdleConnsPerHost: min(*c, 500),
		DisableCompression:  *noCompression,
		DisableKeepAlives:   *noKeepAlive,
	}
	if *proxy != "" {
		pu, err := url.Parse("http://" + strings.TrimPrefix(*proxy, "http://"))
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("hey: -x %q is not host:port", *proxy)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	client := &http.Client{Transport: tr, Timeout: time.Duration(*timeout) * time.Second}
	if *noRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	l := &heyLoad{duration: *z, opts: demo.LoadOptions{
		URL: u.String(), Method: strings.ToUpper(*m), Header: h, Host: *host,
		QPS: *q, Concurrency: *c, Client: client, Interval: time.Hour,
	}}
	if *d != "" {
		l.opts.Body = []byte(*d)
	}
	if *z == 0 {
		l.opts.Requests = *n
	}
	return l, nil
}

// dialWith makes the load's connections with dial.
func (l *heyLoad) dialWith(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if tr, ok := l.opts.Client.Transport.(*http.Transport); ok {
		tr.DialContext = dial
	}
}

// run sends the load and returns its summary. It fails when no request
// got an answer: a load test of an address nothing answers at is not a
// passed test.
func (l *heyLoad) run(ctx context.Context) (demo.Report, error) {
	if l.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.duration)
		defer cancel()
	}
	var sum demo.Report
	opts := l.opts
	opts.Summary = func(r demo.Report) { sum = r }
	if err := demo.RunLoad(ctx, opts); err != nil {
		return sum, err
	}
	if sum.Requests > 0 && sum.Good+sum.Bad == 0 {
		return sum, fmt.Errorf("no request to %s was answered: %d failed, last error: %s", opts.URL, sum.Failed, sum.LastError)
	}
	return sum, nil
}

// summary is one line on what a load did.
func summary(url string, r demo.Report) string {
	return fmt.Sprintf("%d requests to %s: %d answered below 500, %d with 5xx, %d failed; latency p50 %v p99 %v",
		r.Requests, url, r.Good, r.Bad, r.Failed, roundLatency(r.P50), roundLatency(r.P99))
}

// roundLatency rounds a latency to the millisecond, or below one to 10us,
// so that a fast answer does not read as 0s.
func roundLatency(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
