//go:build unix

package testenv

import (
	"context"
	"fmt"
	"io"
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

// InfluxDB is a running InfluxDB 1.8 with Flux enabled: /api/v2/query
// runs Flux, and a database "db" with its default retention policy is
// the bucket "db/autogen".
type InfluxDB struct {
	// URL is the server's base address, e.g. "http://127.0.0.1:40123".
	URL string

	t    testing.TB
	proc *process
	once sync.Once
}

// StartInfluxDB starts influxd on free loopback ports with its data in
// the test's temporary directory, and stops it when the test ends. The
// test is skipped when the binary is not installed (see the package
// documentation).
func StartInfluxDB(t testing.TB) *InfluxDB {
	t.Helper()
	bin := lookup(t, EnvInfluxD)
	dir := t.TempDir()
	ports, err := freePorts(2)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%[2]d"
[meta]
  dir = %[1]q
[data]
  dir = %[3]q
  wal-dir = %[4]q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%[5]d"
  flux-enabled = true
  log-enabled = false
[logging]
  level = "warn"
`, filepath.Join(dir, "meta"), ports[0], filepath.Join(dir, "data"), filepath.Join(dir, "wal"), ports[1])
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatalf("testenv: write influxdb config: %v", err)
	}
	proc, err := startProcess(dir, "influxd", bin, "run", "-config", confPath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	db := &InfluxDB{URL: "http://127.0.0.1:" + strconv.Itoa(ports[1]), t: t, proc: proc}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: influxd log (%s):\n%s", proc.logPath, proc.tail(30))
		}
		db.Stop()
	})
	if err := waitHTTP(t.Context(), []*process{proc}, 2*time.Minute, "influxd", db.URL+"/ping", ""); err != nil {
		t.Fatalf("testenv: %v\n%s", err, proc.tail(30))
	}
	return db
}

// CreateDatabase creates the database name (the bucket name/autogen).
func (db *InfluxDB) CreateDatabase(ctx context.Context, name string) error {
	_, err := db.post(ctx, "/query", url.Values{"q": {"CREATE DATABASE " + strconv.Quote(name)}}, "")
	return err
}

// Write writes points in line protocol, timestamps in seconds, to the
// database name.
func (db *InfluxDB) Write(ctx context.Context, name string, lines ...string) error {
	_, err := db.post(ctx, "/write", url.Values{"db": {name}, "precision": {"s"}}, strings.Join(lines, "\n"))
	return err
}

func (db *InfluxDB) post(ctx context.Context, path string, params url.Values, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, db.URL+path+"?"+params.Encode(), strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("influxdb %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influxdb %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("influxdb %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("influxdb %s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// Stop stops the server. It may be called more than once.
func (db *InfluxDB) Stop() {
	db.once.Do(func() {
		if err := db.proc.stop(); err != nil {
			db.t.Errorf("testenv: %v", err)
		}
	})
}
