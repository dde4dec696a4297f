package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The environment variables that hack/testenv/install.sh sets.
const (
	// EnvBinDir names the directory with the cluster's binaries.
	EnvBinDir = "SERIN_TESTENV_BIN"
	// EnvPrometheus names the prometheus binary.
	EnvPrometheus = "SERIN_PROMETHEUS"
	// EnvInfluxD names the influxd binary (InfluxDB 1.8).
	EnvInfluxD = "SERIN_INFLUXD"
	// EnvCarbonCache names Graphite's carbon-cache.
	EnvCarbonCache = "SERIN_CARBON_CACHE"
	// EnvGraphiteWeb names graphite-web's graphite-manage.
	EnvGraphiteWeb = "SERIN_GRAPHITE_WEB"
	// EnvHelm names the helm binary.
	EnvHelm = "SERIN_HELM"
	// EnvRequire, when "1", turns a missing test environment into a
	// failure instead of a skip.
	EnvRequire = "SERIN_REQUIRE_TESTENV"
)

// lookup returns the value of the environment variable key, or skips (or
// fails, when EnvRequire is set) the test when it is unset.
func lookup(t testing.TB, key string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: skipped in -short mode")
	}
	v := os.Getenv(key)
	if v != "" {
		return v
	}
	msg := fmt.Sprintf("testenv: %s is not set; run `make testenv` and export the variables in ~/.cache/serin-testenv/env (or run `make test`)", key)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Helm returns the path of the helm binary; without one the test is
// skipped, or fails when EnvRequire is set.
func Helm(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvHelm)
}

// binary returns the path of the named cluster binary.
func binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(lookup(t, EnvBinDir), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %s: %v; run `make testenv`", name, err)
	}
	return p
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The ports are
// free when it returns; a process started right after takes them.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
