package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
)

var receiverBuild build

// receiverBin builds testdata/receiver once per test run.
func receiverBin(t *testing.T) string {
	t.Helper()
	return receiverBuild.get(t, "./testdata/receiver")
}

// receiver is a running testdata/receiver process.
type receiver struct {
	URL string
}

// received is one request the receiver recorded.
type received struct {
	Host    string      `json:"host"`
	Path    string      `json:"path"`
	Proxied bool        `json:"proxied"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	p := start(t, receiverBin(t))
	var url string
	waitFor(t, 10*time.Second, "the receiver to listen", func() bool {
		line, _, _ := strings.Cut(p.out.String(), "\n")
		url = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
		return strings.HasPrefix(url, "http://")
	})
	return &receiver{URL: url}
}

// requests returns what the receiver got on paths starting with prefix.
func (r *receiver) requests(t *testing.T, prefix string) []received {
	t.Helper()
	var all []received
	getJSON(t, r.URL+"/_requests", "", &all)
	var out []received
	for _, q := range all {
		if strings.HasPrefix(q.Path, prefix) {
			out = append(out, q)
		}
	}
	return out
}

// canaryOf returns the Canary namespace test/name of a running serin run.
func canaryOf(t *testing.T, state, name string) (v1beta1.Canary, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := local.NewClient(state).Snapshot(ctx)
	if err != nil {
		return v1beta1.Canary{}, false
	}
	for _, c := range snap.Canaries {
		if c.Namespace == "test" && c.Name == name {
			return c, true
		}
	}
	return v1beta1.Canary{}, false
}

// waitPhase waits for the Canary to reach phase.
func waitPhase(t *testing.T, state, name string, phase v1beta1.CanaryPhase, timeout time.Duration) v1beta1.Canary {
	t.Helper()
	var c v1beta1.Canary
	waitFor(t, timeout, fmt.Sprintf("canary %s %s", name, phase), func() bool {
		var ok bool
		c, ok = canaryOf(t, state, name)
		return ok && c.Status.Phase == phase
	})
	return c
}

// canaryEvents returns the events of Canary test/name.
func canaryEvents(t *testing.T, state, name string) []local.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []local.Event
	err := local.NewClient(state).Events(ctx, 0, false, func(e local.Event) error {
		if e.Kind == "Canary" && e.Namespace == "test" && e.Name == name {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	return out
}

// hasEventWith says whether an event of the Canary contains every part.
func hasEventWith(t *testing.T, state, name string, parts ...string) bool {
	t.Helper()
	for _, e := range canaryEvents(t, state, name) {
		s := e.Reason + " " + e.Message
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(s, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// countLines counts the lines of out that contain every part.
func countLines(out string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// appNamed is a Deployment running `serin podinfo` and its Service on
// port, both named name in namespace test.
func appNamed(name string, port int) string {
	return strings.ReplaceAll(strings.ReplaceAll(appManifests(port), "podinfo\n", name+"\n"), "app: podinfo", "app: "+name)
}

// canaryNamed is a Canary of the Deployment name on port, with the
// analysis given as YAML indented by four spaces.
func canaryNamed(name string, port int, analysis string) string {
	return fmt.Sprintf(`apiVersion: serin.dev/v1beta1
kind: Canary
metadata:
  name: %[1]s
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: %[1]s
  service:
    port: %[2]d
  analysis:
%[3]s`, name, port, analysis)
}
