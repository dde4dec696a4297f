package dashboard

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/telemetry"
)

// manyCanaries is a runtime with n Canaries in 10 namespaces, each with
// its primary and canary Deployments, a pod each, golden metrics, and the
// 1000 events the local runtime keeps.
func manyCanaries(n int) *fakeSource {
	base := fixture()
	src := &fakeSource{}
	for i := range n {
		ns, name := fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("app-%d", i)
		c := base.snap.Canaries[0].DeepCopy()
		c.Namespace, c.Name, c.Spec.TargetRef.Name = ns, name, name
		src.snap.Canaries = append(src.snap.Canaries, *c)
		for _, d := range []string{name, name + "-primary"} {
			v := deployment(d, "podinfo:1.7.1", 1)
			v.Deployment.Namespace = ns
			src.snap.Deployments = append(src.snap.Deployments, v)
			src.snap.Pods = append(src.snap.Pods, local.PodStatus{Name: d + "-abcde", Namespace: ns, Deployment: d, Ready: true, Running: true, Started: t0})
			src.stats = append(src.stats, local.DeploymentStat{Namespace: ns, Name: d, Meshed: "1/1", HasTraffic: true,
				Stats: telemetry.Stats{Requests: 600, SuccessRate: 99.5, RPS: 10, P50: 2, P95: 8, P99: 12.5}})
		}
	}
	for i := 1; i <= 1000; i++ {
		c := src.snap.Canaries[i%n]
		src.events = append(src.events, local.Event{Seq: int64(i), Time: t0, Type: "Normal", Reason: "Progressing", Kind: "Canary",
			Namespace: c.Namespace, Name: c.Name, Message: fmt.Sprintf("Advance %s.%s canary weight %d", c.Name, c.Namespace, i%100)})
	}
	return src
}

// BenchmarkState500 answers the page's poll of /api/state (since the last
// event, as the page asks after its first poll, gzipped as a browser takes
// it) with 500 Canaries, 1000 Deployments and 1000 events.
func BenchmarkState500(b *testing.B) {
	src := manyCanaries(500)
	h := New(Options{Source: src, Context: b.Context(), SampleEvery: time.Hour, Now: func() time.Time { return t0 }})
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			var size int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9999/api/state?since=1000", nil)
				req.Header.Set("Accept-Encoding", enc)
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/response")
		})
	}
}

// TestState500 checks what the benchmark measures: every Canary and
// Deployment, each Canary with its own last decisions.
func TestState500(t *testing.T) {
	h := New(Options{Source: manyCanaries(500), Context: t.Context()})
	resp, body := get(t, h, "/api/state?since=1000")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var st State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if len(body) < 100_000 {
		t.Errorf("the state of 500 Canaries is %d bytes uncompressed, want it all", len(body))
	}
	if len(st.Canaries) != 500 || len(st.Deployments) != 1000 || len(st.Events) != 0 || st.LastSeq != 1000 {
		t.Fatalf("canaries %d, deployments %d, events %d, last %d", len(st.Canaries), len(st.Deployments), len(st.Events), st.LastSeq)
	}
	c := st.Canaries[7]
	if len(c.Decisions) != 2 || c.Decisions[0].Message != "Advance app-7.ns-7 canary weight 7" {
		t.Errorf("decisions of app-7 = %+v", c.Decisions)
	}
}

func TestCompressAPI(t *testing.T) {
	h := New(Options{Source: fixture(), Context: t.Context()})
	for _, tc := range []struct {
		path, accept string
		gzipped      bool
	}{
		{"/api/state", "gzip, deflate, br", true},
		{"/api/state", "br;q=1.0, gzip;q=0.8", true},
		{"/api/state", "gzip;q=0", false},
		{"/api/state", "", false},
		{"/", "gzip", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9999"+tc.path, nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var st State
		body := rec.Body.Bytes()
		if tc.gzipped {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatalf("%s with %q: %v", tc.path, tc.accept, err)
			}
			body, _ = io.ReadAll(zr)
		}
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.gzipped || rec.Code != http.StatusOK {
			t.Errorf("%s with Accept-Encoding %q: %d, gzipped %v, want %v", tc.path, tc.accept, rec.Code, got, tc.gzipped)
		}
		if tc.path == "/api/state" && (json.Unmarshal(body, &st) != nil || len(st.Canaries) != 1) {
			t.Errorf("%s with %q: body does not decode to the state: %.100q", tc.path, tc.accept, body)
		}
	}
}
