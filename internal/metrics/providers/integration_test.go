//go:build unix

package providers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/testenv"
)

// TestGraphiteServer runs the graphite provider against a real
// carbon-cache and graphite-web: a value, no data, several series, and a
// query graphite-web refuses.
func TestGraphiteServer(t *testing.T) {
	g := testenv.StartGraphite(t)
	ctx := t.Context()
	at := time.Now().Truncate(time.Second)
	var points []testenv.GraphitePoint
	for i := range 5 {
		ts := at.Add(time.Duration(i-5) * time.Second)
		points = append(points,
			testenv.GraphitePoint{Path: "app.podinfo.requests", Value: 10, Time: ts},
			testenv.GraphitePoint{Path: "app.podinfo.errors", Value: float64(i), Time: ts},
			testenv.GraphitePoint{Path: "app.other.errors", Value: 1, Time: ts},
		)
	}
	if err := g.Send(ctx, points...); err != nil {
		t.Fatal(err)
	}
	p := mustNew(t, Config{Type: "graphite", Address: g.URL})
	q := func(text string) (float64, bool, error) {
		return p.Value(ctx, Query{Text: text, Interval: 10 * time.Second, Now: time.Now()})
	}
	// The points reach graphite-web through carbon-cache: poll until
	// they are all there.
	var v float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		var err error
		v, ok, err = q("target=summarize(asPercent(app.podinfo.errors, app.podinfo.requests), '10s', 'sum', true)&from=-10s")
		if err != nil {
			t.Fatal(err)
		}
		if ok && v == 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v != 100 { // (0+1+2+3+4)/10 * 100
		t.Fatalf("summed error percentage = %v, want 100", v)
	}
	if _, ok, err := q("target=app.nothing.here&from=-10s"); err != nil || ok {
		t.Errorf("a series that does not exist = %v, %v, want no data", ok, err)
	}
	if _, _, err := q("target=app.*.errors&from=-10s"); err == nil || !strings.Contains(err.Error(), "2 series with points") {
		t.Errorf("two series: %v", err)
	}
	if _, _, err := q("target=nosuchfunction(app.podinfo.errors)&from=-10s"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "nosuchfunction") {
		t.Errorf("an unknown function: %v", err)
	}
}

// TestInfluxDBServer runs the influxdb provider against a real InfluxDB
// 1.8 with Flux: a mean, a count, no data, several rows, and a query
// InfluxDB refuses.
func TestInfluxDBServer(t *testing.T) {
	db := testenv.StartInfluxDB(t)
	ctx := t.Context()
	if err := db.CreateDatabase(ctx, "serin"); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Unix()
	var lines []string
	for i, v := range []float64{99, 98, 97} {
		lines = append(lines,
			fmt.Sprintf("http,deployment=podinfo success_rate=%g %d", v, at-int64(i)),
			fmt.Sprintf("http,deployment=other success_rate=50 %d", at-int64(i)))
	}
	if err := db.Write(ctx, "serin", lines...); err != nil {
		t.Fatal(err)
	}
	// InfluxDB 1.8 takes "username:password" as the token, and the
	// organisation is ignored.
	p := mustNew(t, Config{Type: "influxdb", Address: db.URL, Secret: secret("token", "serin:secret", "org", "-")})
	q := func(filter, agg string) (float64, bool, error) {
		return p.Value(ctx, Query{Text: `from(bucket: "serin/autogen")
  |> range(start: -1m)
  |> filter(fn: (r) => r._measurement == "http" and r._field == "success_rate"` + filter + `)
  |> group()
  |> ` + agg, Interval: time.Minute, Now: time.Now()})
	}
	if v, ok, err := q(` and r.deployment == "podinfo"`, "mean()"); err != nil || !ok || v != 98 {
		t.Errorf("mean = %v, %v, %v, want 98", v, ok, err)
	}
	if v, ok, err := q(` and r.deployment == "podinfo"`, "count()"); err != nil || !ok || v != 3 {
		t.Errorf("count (a long) = %v, %v, %v, want 3", v, ok, err)
	}
	if _, ok, err := q(` and r.deployment == "nothing"`, "mean()"); err != nil || ok {
		t.Errorf("no rows = %v, %v, want no data", ok, err)
	}
	if _, _, err := q("", "last()"); err != nil {
		t.Errorf("one row after group(): %v", err)
	}
	if _, _, err := p.Value(ctx, Query{Text: `from(bucket: "serin/autogen") |> range(start: -1m) |> filter(fn: (r) => r._field == "success_rate")`, Interval: time.Minute, Now: time.Now()}); err == nil || !strings.Contains(err.Error(), "returned 6 rows, want 1") {
		t.Errorf("six rows: %v", err)
	}
	if _, _, err := p.Value(ctx, Query{Text: `from(bucket: "serin/autogen") |> rangex(start: -1m)`, Interval: time.Minute, Now: time.Now()}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `undefined identifier "rangex"`) {
		t.Errorf("a query that does not compile: %v", err)
	}
}
