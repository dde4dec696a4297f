package prometheus

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzQueryReply has a Prometheus server answer a query with an arbitrary
// status and body. The client must not panic and must return an error or
// a value: an error unless the reply was a 2xx with a JSON body, a finite
// value when it says there is one, and a histogram or an error from the
// samples of a vector.
func FuzzQueryReply(f *testing.F) {
	for _, seed := range []struct {
		status uint16
		body   string
	}{
		{200, vectorJSON(sampleJSON(``, "99.5"))},
		{200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`},
		{200, vectorJSON(sampleJSON(``, "NaN"))},
		{200, vectorJSON(sampleJSON(`"le":"0.1"`, "3"), sampleJSON(`"le":"+Inf"`, "1e400"))},
		{200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"]]}]}}`},
		{200, `{"status":"success","data":{"resultType":"vector","result":[`},
		{200, `{"status":"success","warnings":["w"],"data":null}`},
		{400, `{"status":"error","errorType":"bad_data","error":"parse error"}`},
		{503, `overloaded`},
		{422, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	type reply struct {
		status int
		body   []byte
	}
	var next atomic.Pointer[reply]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r := next.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.status)
		_, _ = w.Write(r.body)
	}))
	f.Cleanup(srv.Close)
	c, err := NewClient(Config{Address: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		r := &reply{status: 200 + int(status)%400, body: body} // 200-599: what a server can answer with
		next.Store(r)
		wellFormed := r.status/100 == 2 && r.status != http.StatusNoContent && json.Valid(body)

		v, ok, err := c.Value(ctx, "q", time.Unix(1700000000, 0))
		if err == nil && !wellFormed {
			t.Errorf("%d %q: Value = %v, %v and no error", r.status, body, v, ok)
		}
		if ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Errorf("%d %q: Value = %v, reported as data", r.status, body, v)
		}
		if !ok && v != 0 {
			t.Errorf("%d %q: no data, but the value %v", r.status, body, v)
		}

		vec, err := c.Vector(ctx, "q", time.Unix(1700000000, 0))
		if err != nil {
			return
		}
		if !wellFormed {
			t.Errorf("%d %q: Vector = %v and no error", r.status, body, vec)
		}
		h, err := histogram(vec)
		if err != nil {
			return
		}
		if len(h.Bounds) != len(vec) || len(h.Counts) != len(vec) {
			t.Fatalf("%d %q: %d samples made %d bounds and %d counts", r.status, body, len(vec), len(h.Bounds), len(h.Counts))
		}
		for i := 1; i < len(h.Counts); i++ {
			if h.Bounds[i] < h.Bounds[i-1] || h.Counts[i] < h.Counts[i-1] {
				t.Fatalf("%d %q: histogram %v not cumulative in order", r.status, body, h)
			}
		}
	})
}
