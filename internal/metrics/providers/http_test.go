package providers

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestQueryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	p := mustNew(t, Config{Type: "graphite", Address: srv.URL, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, _, err := p.Value(t.Context(), Query{Text: "target=x", Interval: time.Minute, Now: now})
	if err == nil || !strings.Contains(err.Error(), "no reply within 50ms") {
		t.Fatalf("Value() error = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the query took %v, want it cut off near 50ms", d)
	}
}

func TestInsecureSkipVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"target":"x","datapoints":[[7,1]]}]`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	q := Query{Text: "target=x", Interval: time.Minute, Now: now}
	if _, _, err := mustNew(t, Config{Type: "graphite", Address: srv.URL}).Value(t.Context(), q); err == nil {
		t.Fatal("a self-signed certificate must fail without insecureSkipVerify")
	}
	v, ok, err := mustNew(t, Config{Type: "graphite", Address: srv.URL, InsecureSkipVerify: true}).Value(t.Context(), q)
	if err != nil || !ok || v != 7 {
		t.Fatalf("Value() = %v, %v, %v, want 7", v, ok, err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: "skywalking"}, `provider type "skywalking" is not supported (supported: [prometheus graphite`},
		{Config{Type: "graphite"}, "graphite needs spec.provider.address"},
		{Config{Type: "influxdb", Address: "influx:8086"}, `spec.provider.address "influx:8086" is not an http(s) URL`},
		{Config{Type: "splunk", Secret: secret("sf_token_key", "t")}, "splunk needs spec.provider.address"},
		{Config{Type: "dynatrace", Address: "https://abc.live.dynatrace.com"}, "dynatrace needs spec.provider.secretRef"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, typ := range Types() {
		if !IsType(typ) {
			t.Errorf("IsType(%q) = false", typ)
		}
	}
}
