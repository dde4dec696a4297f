//go:build unix

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/testenv"
)

// providerCanary is a Canary of podinfo judged by one MetricTemplate
// metric, the success rate a backend holds for the scenario; it steps
// 50% a second and rolls back after 2 failed checks.
func providerCanary(port int, scenario string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: %d
  analysis:
    interval: 1s
    threshold: 2
    stepWeight: 50
    metrics:
      - name: success-rate
        templateRef:
          name: success-rate
        thresholdRange:
          min: 99
        interval: 10s
        templateVariables:
          scenario: %s
`, port, scenario)
}

// graphiteTemplate is a Flagger MetricTemplate over Graphite: the
// average success rate over the metric's interval.
func graphiteTemplate(address string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: success-rate
  namespace: test
spec:
  provider:
    type: graphite
    address: %s
  query: |
    target=summarize(
      serin.{{ namespace }}.{{ target }}.{{ variables.scenario }}.success_rate,
      '{{ interval }}', 'avg', true
    )&from=-{{ interval }}
`, address)
}

// influxTemplate is a Flagger MetricTemplate over InfluxDB's Flux: the
// mean success rate over the metric's interval.
func influxTemplate(address string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: success-rate
  namespace: test
spec:
  provider:
    type: influxdb
    address: %s
  query: |
    from(bucket: "serin/autogen")
      |> range(start: -{{ interval }})
      |> filter(fn: (r) => r._measurement == "http" and r._field == "success_rate")
      |> filter(fn: (r) => r.deployment == "{{ target }}" and r.scenario == "{{ variables.scenario }}")
      |> group()
      |> mean()
`, address)
}

// TestGraphiteRelease releases podinfo 1.7.1 twice with a Graphite
// MetricTemplate against a real carbon-cache and graphite-web: promoted
// while the series it reads holds 99.8%, rolled back while it holds 80%.
func TestGraphiteRelease(t *testing.T) {
	bin := serin(t)
	g := testenv.StartGraphite(t)
	feed := func(ctx context.Context, scenario string, value float64, at time.Time) error {
		return g.Send(ctx, testenv.GraphitePoint{Path: "serin.test.podinfo." + scenario + ".success_rate", Value: value, Time: at})
	}
	releaseWithProvider(t, bin, graphiteTemplate(g.URL), feed)
}

// TestProviderUnreachable releases podinfo with a Graphite MetricTemplate
// whose server is down: the analysis halts with the error, a Normal event,
// and counts no failed check.
func TestProviderUnreachable(t *testing.T) {
	bin := serin(t)
	dir, state := t.TempDir(), t.TempDir()
	port, down := freePort(t), freePort(t)
	app := writeFile(t, dir, "app.yaml", appManifests(port))
	cn := writeFile(t, dir, "canary.yaml", providerCanary(port, "down"))
	tmpl := writeFile(t, dir, "template.yaml", graphiteTemplate(fmt.Sprintf("http://127.0.0.1:%d", down)))
	run := start(t, bin, "run", "-f", app, "-f", cn, "-f", tmpl, "--state-dir", state)
	waitFor(t, time.Minute, "Initialized", func() bool {
		phase, _, _, _ := canary(t, bin, state)
		return phase == "Initialized"
	})
	if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	halt := "Halt advancement podinfo.test: success-rate query failed: metric success-rate: MetricTemplate test/success-rate: query \"target=summarize("
	waitFor(t, time.Minute, "a halt on the query failure", func() bool {
		return strings.Contains(run.out.String(), halt)
	})
	// Three intervals more of failed queries count no failed check.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		phase, weight, failed, ok := canary(t, bin, state)
		if ok && (phase != "Progressing" || failed != 0) {
			t.Fatalf("phase %s, weight %d, failed checks %d: want Progressing with no failed check", phase, weight, failed)
		}
	}
	if out := run.out.String(); !strings.Contains(out, fmt.Sprintf("graphite http://127.0.0.1:%d: Get ", down)) || !strings.Contains(out, "connection refused") {
		t.Errorf("the event does not say why:\n%s", out)
	}
	if err := run.interrupt(t); err != nil {
		t.Fatalf("serin run: %v", err)
	}
}

// TestInfluxDBRelease is TestGraphiteRelease against a real InfluxDB 1.8
// with Flux.
func TestInfluxDBRelease(t *testing.T) {
	bin := serin(t)
	db := testenv.StartInfluxDB(t)
	if err := db.CreateDatabase(t.Context(), "serin"); err != nil {
		t.Fatal(err)
	}
	feed := func(ctx context.Context, scenario string, value float64, at time.Time) error {
		return db.Write(ctx, "serin", fmt.Sprintf("http,deployment=podinfo,scenario=%s success_rate=%g %d", scenario, value, at.Unix()))
	}
	releaseWithProvider(t, bin, influxTemplate(db.URL), feed)
}

// releaseWithProvider runs serin with podinfo, a Canary and template, and
// releases podinfo 1.7.1 in two scenarios, feeding the backend a point a
// second: "healthy" (99.8%) must be promoted, "faulty" (80%) rolled back.
func releaseWithProvider(t *testing.T, bin, template string, feed func(ctx context.Context, scenario string, value float64, at time.Time) error) {
	for _, tc := range []struct {
		scenario string
		value    float64
		want     string
	}{
		{"healthy", 99.8, "Succeeded"},
		{"faulty", 80, "Failed"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// The series exists before the release starts and keeps a
			// point a second while it runs.
			start10 := time.Now().Add(-10 * time.Second)
			for i := range 10 {
				if err := feed(ctx, tc.scenario, tc.value, start10.Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			fed := make(chan error, 1)
			go func() {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						fed <- nil
						return
					case now := <-tick.C:
						if err := feed(ctx, tc.scenario, tc.value, now); err != nil && ctx.Err() == nil {
							fed <- err
							return
						}
					}
				}
			}()

			dir, state := t.TempDir(), t.TempDir()
			port := freePort(t)
			app := writeFile(t, dir, "app.yaml", appManifests(port))
			cn := writeFile(t, dir, "canary.yaml", providerCanary(port, tc.scenario))
			tmpl := writeFile(t, dir, "template.yaml", template)
			run := start(t, bin, "run", "-f", app, "-f", cn, "-f", tmpl, "--state-dir", state)
			waitFor(t, time.Minute, "Initialized", func() bool {
				phase, _, _, _ := canary(t, bin, state)
				return phase == "Initialized"
			})
			if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
				t.Fatalf("set image: %v\n%s", err, out)
			}
			var phase string
			waitFor(t, 2*time.Minute, tc.want, func() bool {
				phase, _, _, _ = canary(t, bin, state)
				return phase == "Succeeded" || phase == "Failed"
			})
			cancel()
			if err := <-fed; err != nil {
				t.Fatalf("feed the backend: %v", err)
			}
			out := run.out.String()
			if phase != tc.want {
				t.Fatalf("phase %s, want %s; serin run:\n%s", phase, tc.want, out)
			}
			// The verdicts were the template's values, not errors or
			// missing data.
			if strings.Contains(out, "query failed") || strings.Contains(out, "has no data") {
				t.Errorf("the analysis did not read the backend cleanly:\n%s", out)
			}
			want := "success-rate 99.8 >= 99"
			if tc.want == "Failed" {
				want = "success-rate 80 < 99"
			}
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the output of serin run:\n%s", want, out)
			}
			if err := run.interrupt(t); err != nil {
				t.Fatalf("serin run: %v", err)
			}
		})
	}
}
