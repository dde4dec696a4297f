package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimulateJSON(t *testing.T) {
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"simulate", "-f", "../../examples/podinfo/canary.yaml", "--canary-error", "100%", "--runs", "20", "-o", "json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per judge, got %q", out.String())
	}
	keys := []string{"judge", "runs", "promoted", "rolled_back", "time_to_decision_p50_s", "time_to_decision_p95_s",
		"canary_requests_p50", "failed_requests_p50", "failed_requests_p95"}
	for i, want := range []string{"threshold", "sequential"} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d has no key %q: %s", i, k, lines[i])
			}
		}
		if m["judge"] != want || m["rolled_back"] != 1.0 || m["runs"] != 20.0 {
			t.Errorf("line %d = %s, want judge %s with all 20 runs rolled back", i, lines[i], want)
		}
	}
}

func TestSimulateFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--canary-error", "150%"},
		{"--primary-latency", "p50=20ms"},
		{"--judge", "fancy"},
		{"-o", "yaml"},
		{"--primary-history", "-1m"},
		{"--primary-error-before", "2"},
	} {
		root := NewRootCommand()
		root.SetOut(&bytes.Buffer{})
		root.SetArgs(append([]string{"simulate", "-f", "../../examples/podinfo/canary.yaml", "--runs", "1"}, args...))
		if err := root.Execute(); err == nil {
			t.Errorf("%v: accepted, want an error", args)
		}
	}
}

// TestSimulatePrimaryHistory: with the primary's history the sequential
// judge tells a primary at the limit from a healthy one; without it, it
// judges a canary identical to a primary at 1% errors as Flagger would.
func TestSimulatePrimaryHistory(t *testing.T) {
	run := func(history string) map[string]any {
		root := NewRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"simulate", "-f", "../../examples/podinfo/canary.yaml", "--judge", "sequential",
			"--primary-error", "1%", "--runs", "100", "-o", "json", "--primary-history", history})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	with, without := run("10m"), run("0")
	if with["rolled_back"].(float64) > 0.05 {
		t.Errorf("with 10m of history: %v rolled back, want (almost) none", with["rolled_back"])
	}
	if without["rolled_back"].(float64) < 0.2 {
		t.Errorf("without history: %v rolled back, want as many as the threshold judge's", without["rolled_back"])
	}
}

// TestSimulatePrimaryErrorBefore: the primary's error rate over its
// history can differ from its rate during the release.
func TestSimulatePrimaryErrorBefore(t *testing.T) {
	o := &simulateOptions{rps: 10, primaryError: "0.3%", primaryLatency: "20ms", primaryErrorBefore: "0.1%"}
	s, err := o.scenario()
	if err != nil {
		t.Fatal(err)
	}
	if s.PrimaryErrorBefore == nil || *s.PrimaryErrorBefore != 0.001 || s.Primary.ErrorRate != 0.003 || s.Canary.ErrorRate != 0.003 {
		t.Errorf("scenario %+v, want the primary at 0.1%% before the release and both at 0.3%% during it", s)
	}
	o.primaryErrorBefore = ""
	if s, err = o.scenario(); err != nil || s.PrimaryErrorBefore != nil {
		t.Errorf("without the flag: %+v, %v; want no separate rate before the release", s, err)
	}
}
