package baseline

import (
	"errors"
	"testing"
	"time"

	"github.com/serinhq/serin/internal/judge"
)

func TestCacheReadsAHistoryOnce(t *testing.T) {
	var c Cache
	since := time.Unix(1_800_000_000, 0)
	k := Key{Namespace: "test", Primary: "podinfo-primary", Metric: "request-success-rate", Since: since}
	reads := 0
	read := func() (judge.Counts, error) {
		reads++
		return judge.Counts{Requests: 36000, Failures: 36}, nil
	}
	for range 3 {
		h, err := c.Get(k, read)
		if err != nil || h.Requests != 36000 || h.Failures != 36 {
			t.Fatalf("Get = %+v, %v; want 36000 requests and 36 failures", h, err)
		}
	}
	if reads != 1 {
		t.Errorf("read %d times, want once", reads)
	}
	// The same moment in another location is the same history.
	if _, err := c.Get(Key{Namespace: "test", Primary: "podinfo-primary", Metric: "request-success-rate", Since: since.In(time.FixedZone("x", 3600))}, read); err != nil || reads != 1 {
		t.Errorf("same instant in another zone: %d reads, %v; want it held", reads, err)
	}
	// Another analysis, another metric: read again.
	k2 := k
	k2.Since = since.Add(time.Minute)
	k3 := k
	k3.Metric = "request-duration"
	for _, other := range []Key{k2, k3} {
		if _, err := c.Get(other, read); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 3 {
		t.Errorf("read %d times for three histories, want 3", reads)
	}
}

func TestCacheKeepsNoErrorsAndNoEmptyHistories(t *testing.T) {
	var c Cache
	k := Key{Namespace: "test", Primary: "podinfo-primary", Metric: "request-success-rate", Since: time.Unix(1, 0)}
	boom := errors.New("prometheus unreachable")
	if _, err := c.Get(k, func() (judge.Counts, error) { return judge.Counts{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if h, err := c.Get(k, func() (judge.Counts, error) { return judge.Counts{}, nil }); err != nil || h.Requests != 0 {
		t.Fatalf("empty history: %+v, %v", h, err)
	}
	h, err := c.Get(k, func() (judge.Counts, error) { return judge.Counts{Requests: 10}, nil })
	if err != nil || h.Requests != 10 {
		t.Errorf("after an error and no data, Get = %+v, %v; want the history read now", h, err)
	}
}

func TestCacheStartsOverWhenFull(t *testing.T) {
	c := Cache{Size: 2}
	reads := 0
	read := func() (judge.Counts, error) { reads++; return judge.Counts{Requests: 1}, nil }
	key := func(i int) Key {
		return Key{Namespace: "test", Primary: "p", Metric: "m", Since: time.Unix(int64(i), 0)}
	}
	for i := range 3 {
		if _, err := c.Get(key(i), read); err != nil {
			t.Fatal(err)
		}
	}
	// The third history made it start over: the first is read again, the
	// third is held.
	if _, err := c.Get(key(2), read); err != nil || reads != 3 {
		t.Errorf("the latest history was read again (%d reads)", reads)
	}
	if _, err := c.Get(key(0), read); err != nil || reads != 4 {
		t.Errorf("a forgotten history was not read again (%d reads)", reads)
	}
	if len(c.m) > 2 {
		t.Errorf("holds %d histories, want at most 2", len(c.m))
	}
}
