//go:build unix

package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// TestKeptnCluster runs the keptn provider against a real API server
// with Keptn's CRDs: the test plays Keptn's metrics operator, setting a
// KeptnMetric's value and completing each Analysis serin creates.
func TestKeptnCluster(t *testing.T) {
	c := testenv.Start(t, testenv.Options{ControlPlaneOnly: true, CRDs: []string{"testdata/keptn"}})
	ns := c.CreateNamespace(t, "keptn")
	kube := c.Client()
	ctx := t.Context()

	m := keptnMetric(ns, "error-rate", nil)
	if err := kube.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	p := mustNew(t, Config{Type: "keptn", Kube: kube, Timeout: 20 * time.Second})
	if _, ok, err := p.Value(ctx, Query{Text: "keptnmetric/" + ns + "/error-rate", Interval: time.Minute, Now: time.Now()}); err != nil || ok {
		t.Fatalf("a KeptnMetric without a value: %v, %v, want no data", ok, err)
	}
	m.Object["status"] = map[string]any{"value": "1.25", "rawValue": "MS4yNQ=="}
	if err := kube.Status().Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := p.Value(ctx, Query{Text: "keptnmetric/" + ns + "/error-rate", Interval: time.Minute, Now: time.Now()}); err != nil || !ok || v != 1.25 {
		t.Fatalf("the KeptnMetric's value = %v, %v, %v, want 1.25", v, ok, err)
	}

	// The operator: complete every Analysis, passing those of the
	// definition "good".
	opCtx, stop := context.WithCancel(ctx)
	defer stop()
	seen := make(chan *unstructured.Unstructured, 4)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-opCtx.Done():
				return
			case <-tick.C:
			}
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(keptnGV().WithKind("AnalysisList"))
			if err := kube.List(opCtx, list, client.InNamespace(ns)); err != nil {
				continue
			}
			for i := range list.Items {
				a := &list.Items[i]
				if _, done, _ := unstructured.NestedString(a.Object, "status", "state"); done {
					continue
				}
				def, _, _ := unstructured.NestedString(a.Object, "spec", "analysisDefinition", "name")
				a.Object["status"] = map[string]any{"state": "Completed", "pass": def == "good", "raw": "{}"}
				if err := kube.Status().Update(opCtx, a); err == nil {
					seen <- a.DeepCopy()
				}
			}
		}
	}()
	for def, want := range map[string]float64{"good": 1, "bad": 0} {
		v, ok, err := p.Value(ctx, Query{Text: "analysis/" + ns + "/" + def + "/10m/workload=podinfo", Interval: time.Minute, Now: time.Now()})
		if err != nil || !ok || v != want {
			t.Fatalf("Analysis of %s = %v, %v, %v, want %v", def, v, ok, err, want)
		}
		a := <-seen
		recent, _, _ := unstructured.NestedString(a.Object, "spec", "timeframe", "recent")
		args, _, _ := unstructured.NestedStringMap(a.Object, "spec", "args")
		if !strings.HasPrefix(a.GetName(), def+"-") || recent != "10m" || args["workload"] != "podinfo" {
			t.Errorf("Analysis %s: timeframe %q, args %v", a.GetName(), recent, args)
		}
	}
	// serin deleted the Analyses it created.
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(keptnGV().WithKind("AnalysisList"))
	if err := kube.List(ctx, list, client.InNamespace(ns)); err != nil || len(list.Items) != 0 {
		t.Errorf("Analyses left: %d (%v)", len(list.Items), err)
	}
}
