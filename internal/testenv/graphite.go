//go:build unix

package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Graphite is a running Graphite: carbon-cache, which stores the points
// it receives in Whisper files at a resolution of one second (kept two
// hours), and graphite-web, which serves the render API over them and
// over carbon-cache's points not yet written.
type Graphite struct {
	// URL is graphite-web's base address, e.g. "http://127.0.0.1:40123".
	URL string
	// CarbonAddr is carbon-cache's plaintext line receiver, host:port.
	CarbonAddr string

	t     testing.TB
	procs []*process
	once  sync.Once
}

// StartGraphite starts carbon-cache and graphite-web (Debian's
// graphite-carbon and graphite-web packages) on free loopback ports with
// their data in the test's temporary directory, and stops them when the
// test ends. The test is skipped when they are not installed (see the
// package documentation).
func StartGraphite(t testing.TB) *Graphite {
	t.Helper()
	carbon := lookup(t, EnvCarbonCache)
	web := lookup(t, EnvGraphiteWeb)
	dir := t.TempDir()
	ports, err := freePorts(4)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	line, pickle, cacheQuery, webPort := ports[0], ports[1], ports[2], ports[3]
	for _, d := range []string{"storage/whisper", "lists", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	files := map[string]string{
		"carbon.conf": fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s/storage/
LOCAL_DATA_DIR = %[1]s/storage/whisper/
WHITELISTS_DIR = %[1]s/lists/
CONF_DIR = %[1]s/
LOG_DIR = %[1]s/log/
PID_DIR = %[1]s/
ENABLE_LOGROTATION = False
USER =
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 10000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[2]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[3]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[4]d
LOG_LISTENER_CONN_SUCCESS = False
LOG_CACHE_HITS = False
LOG_UPDATES = False
`, dir, line, pickle, cacheQuery),
		"storage-schemas.conf":     "[default]\npattern = .*\nretentions = 1s:2h\n",
		"storage-aggregation.conf": "[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = average\n",
		"serin_graphite.py": fmt.Sprintf(`SECRET_KEY = 'serin-testenv'
GRAPHITE_ROOT = '/usr/share/graphite-web'
STATIC_ROOT = '/usr/share/graphite-web/static'
CONF_DIR = %[1]q
STORAGE_DIR = %[1]q + '/storage'
WHISPER_DIR = %[1]q + '/storage/whisper/'
STANDARD_DIRS = [WHISPER_DIR]
LOG_DIR = %[1]q + '/log'
INDEX_FILE = %[1]q + '/index'
DATABASES = {'default': {'NAME': %[1]q + '/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
CARBONLINK_HOSTS = ['127.0.0.1:%[2]d']
DEFAULT_XFILES_FACTOR = 0
LOG_ROTATION = False
FUNCTION_PLUGINS = []
ALLOWED_HOSTS = ['127.0.0.1']
`, dir, cacheQuery),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("testenv: write %s: %v", name, err)
		}
	}
	g := &Graphite{
		URL:        "http://127.0.0.1:" + strconv.Itoa(webPort),
		CarbonAddr: "127.0.0.1:" + strconv.Itoa(line),
		t:          t,
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range g.procs {
				t.Logf("testenv: %s log (%s):\n%s", p.name, p.logPath, p.tail(30))
			}
		}
		g.Stop()
	})
	proc, err := startProcess(dir, "carbon-cache", carbon, "--config="+filepath.Join(dir, "carbon.conf"), "--nodaemon", "start")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	g.procs = append(g.procs, proc)
	proc, err = startProcessEnv(dir, "graphite-web",
		[]string{"PYTHONPATH=" + dir, "GRAPHITE_SETTINGS_MODULE=serin_graphite", "DJANGO_SETTINGS_MODULE=graphite.settings"},
		web, "runserver", "--noreload", "127.0.0.1:"+strconv.Itoa(webPort))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	g.procs = append(g.procs, proc)
	ctx := t.Context()
	if err := waitFor(ctx, g.procs, 2*time.Minute, "carbon-cache", func(ctx context.Context) (bool, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", g.CarbonAddr)
		if err != nil {
			return false, err
		}
		return true, c.Close()
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := waitHTTP(ctx, g.procs, 2*time.Minute, "graphite-web", g.URL+"/render?target=ready&format=json", ""); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return g
}

// Send writes points to carbon-cache over its plaintext protocol, one
// "path value timestamp" line each. graphite-web serves them at once,
// from carbon-cache's memory until they are written to disk.
func (g *Graphite) Send(ctx context.Context, points ...GraphitePoint) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", g.CarbonAddr)
	if err != nil {
		return fmt.Errorf("send to carbon: %w", err)
	}
	var b strings.Builder
	for _, p := range points {
		fmt.Fprintf(&b, "%s %s %d\n", p.Path, strconv.FormatFloat(p.Value, 'g', -1, 64), p.Time.Unix())
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		_ = c.Close()
		return fmt.Errorf("send to carbon: %w", err)
	}
	return c.Close()
}

// GraphitePoint is one point of a Graphite series.
type GraphitePoint struct {
	Path  string
	Value float64
	Time  time.Time
}

// Stop stops graphite-web and carbon-cache. It may be called more than
// once.
func (g *Graphite) Stop() {
	g.once.Do(func() {
		for i := len(g.procs) - 1; i >= 0; i-- {
			if err := g.procs[i].stop(); err != nil {
				g.t.Errorf("testenv: %v", err)
			}
		}
	})
}
