//go:build unix

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prometheus is a running Prometheus server.
type Prometheus struct {
	// URL is the server's base address, e.g. "http://127.0.0.1:40123".
	URL string

	t       testing.TB
	mu      sync.Mutex
	proc    *process
	stopped bool
}

// StartPrometheus starts a Prometheus server on a free loopback port that
// scrapes targets every interval, and stops it when the test ends (or on
// Stop). A target is "host:port" (scraped at /metrics over HTTP) or a URL
// such as "http://127.0.0.1:9100/stats". Labels the targets expose, such
// as namespace, pod and deployment, are kept as they are. The test is
// skipped when the binary is not installed (see the package documentation).
func StartPrometheus(t testing.TB, targets []string, interval time.Duration) *Prometheus {
	t.Helper()
	bin := lookup(t, EnvPrometheus)
	if interval <= 0 {
		interval = time.Second
	}
	dir := t.TempDir()
	cfg, err := prometheusConfig(targets, interval)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfgPath := filepath.Join(dir, "prometheus.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatalf("testenv: write prometheus config: %v", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	proc, err := startProcess(dir, "prometheus", bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p := &Prometheus{URL: "http://" + addr, t: t, proc: proc}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: prometheus log (%s):\n%s", proc.logPath, proc.tail(30))
		}
		p.Stop()
	})
	p.waitReady()
	return p
}

func (p *Prometheus) waitReady() {
	if err := waitHTTP(p.t.Context(), []*process{p.proc}, 2*time.Minute, "prometheus", p.URL+"/-/ready", ""); err != nil {
		p.t.Fatalf("testenv: %v\n%s", err, p.proc.tail(30))
	}
}

// Stop stops the server. It may be called more than once.
func (p *Prometheus) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if err := p.proc.stop(); err != nil {
		p.t.Errorf("testenv: %v", err)
	}
}

// Start starts a stopped server again, on the same address and with the
// data it had stored, and waits until it is ready.
func (p *Prometheus) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		return
	}
	proc, err := p.proc.start()
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	p.proc, p.stopped = proc, false
	p.waitReady()
}

// Stopped reports whether the server has exited.
func (p *Prometheus) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc.exited() != nil
}

// prometheusConfig returns a configuration (JSON, which Prometheus reads as
// YAML) with one scrape job per scheme and path of the targets.
func prometheusConfig(targets []string, interval time.Duration) ([]byte, error) {
	type job struct {
		scheme, path string
		targets      []string
	}
	var jobs []*job
	for _, target := range targets {
		scheme, host, path := "http", target, "/metrics"
		if strings.Contains(target, "://") {
			u, err := url.Parse(target)
			if err != nil {
				return nil, fmt.Errorf("prometheus target %q: %w", target, err)
			}
			scheme, host = u.Scheme, u.Host
			if u.Path != "" {
				path = u.Path
			}
		}
		if host == "" {
			return nil, fmt.Errorf("prometheus target %q: no host:port", target)
		}
		var j *job
		for _, o := range jobs {
			if o.scheme == scheme && o.path == path {
				j = o
			}
		}
		if j == nil {
			j = &job{scheme: scheme, path: path}
			jobs = append(jobs, j)
		}
		j.targets = append(j.targets, host)
	}
	iv := interval.String()
	scrapes := []map[string]any{}
	for i, j := range jobs {
		name := "testenv"
		if i > 0 {
			name += strconv.Itoa(i)
		}
		scrapes = append(scrapes, map[string]any{
			"job_name":       name,
			"honor_labels":   true,
			"scheme":         j.scheme,
			"metrics_path":   j.path,
			"static_configs": []map[string]any{{"targets": j.targets}},
		})
	}
	return json.MarshalIndent(map[string]any{
		"global": map[string]any{
			"scrape_interval":     iv,
			"scrape_timeout":      iv,
			"evaluation_interval": iv,
		},
		"scrape_configs": scrapes,
	}, "", "  ")
}

// Query runs an instant PromQL query and returns the "data" of the answer
// as raw JSON, for tests that check what Prometheus sees.
func (p *Prometheus) Query(ctx context.Context, query string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query prometheus: %s: %w", resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query prometheus: %s: %s", resp.Status, body.Error)
	}
	return body.Data, nil
}
