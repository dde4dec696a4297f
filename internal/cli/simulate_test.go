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
	} {
		root := NewRootCommand()
		root.SetOut(&bytes.Buffer{})
		root.SetArgs(append([]string{"simulate", "-f", "../../examples/podinfo/canary.yaml", "--runs", "1"}, args...))
		if err := root.Execute(); err == nil {
			t.Errorf("%v: accepted, want an error", args)
		}
	}
}
