package rollout

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// A small runner for scenario scripts in the style of etcd raft's
// datadriven tests. A script is a sequence of cases:
//
//	# comment
//	command key=value key="quoted value" word
//	optional input lines
//	----
//	expected output
//
// A blank line ends the expected output. With -update the expected outputs
// are rewritten from what the test produced.

var update = flag.Bool("update", false, "rewrite the expected output of the scenario scripts")

type testCase struct {
	Pos   string // file:line of the command
	Cmd   string
	Args  []cmdArg
	Input string

	expected   string
	start, end int // lines of the expected output, [start, end)
}

type cmdArg struct {
	Key, Val string
}

// arg returns the value of the argument key and whether it was given.
func (tc *testCase) arg(key string) (string, bool) {
	for _, a := range tc.Args {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func runScript(t *testing.T, path string, run func(t *testing.T, tc *testCase) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	cases, err := parseScript(path, lines)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		tc := &cases[i]
		out := strings.TrimRight(run(t, tc), "\n")
		if strings.Contains(out, "\n\n") {
			t.Fatalf("%s: output contains a blank line:\n%s", tc.Pos, out)
		}
		if *update {
			tc.expected = out
			continue
		}
		if out != tc.expected {
			t.Errorf("%s: %s: output differs\n--- got\n%s\n--- want\n%s", tc.Pos, tc.Cmd, out, tc.expected)
		}
	}
	if !*update {
		return
	}
	var b strings.Builder
	next := 0
	for _, tc := range cases {
		b.WriteString(strings.Join(lines[next:tc.start], "\n"))
		b.WriteString("\n")
		if tc.expected != "" {
			b.WriteString(tc.expected)
			b.WriteString("\n")
		}
		next = tc.end
	}
	b.WriteString(strings.Join(lines[next:], "\n"))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseScript(path string, lines []string) ([]testCase, error) {
	var cases []testCase
	for i := 0; i < len(lines); {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			i++
			continue
		}
		tc := testCase{Pos: fmt.Sprintf("%s:%d", path, i+1)}
		fields, err := splitArgs(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tc.Pos, err)
		}
		tc.Cmd = fields[0]
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			tc.Args = append(tc.Args, cmdArg{Key: k, Val: v})
		}
		i++
		var input []string
		for ; i < len(lines) && lines[i] != "----"; i++ {
			input = append(input, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s: missing ----", tc.Pos)
		}
		tc.Input = strings.Join(input, "\n")
		i++
		tc.start = i
		for ; i < len(lines) && lines[i] != ""; i++ {
		}
		tc.end = i
		tc.expected = strings.Join(lines[tc.start:tc.end], "\n")
		cases = append(cases, tc)
	}
	return cases, nil
}

// splitArgs splits a command line at spaces outside double quotes and
// removes the quotes.
func splitArgs(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if any {
		out = append(out, cur.String())
	}
	return out, nil
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`metric request-success-rate err="dial tcp: refused" n=3 canary-stuck=""`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metric", "request-success-rate", "err=dial tcp: refused", "n=3", "canary-stuck="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitArgs = %q, want %q", got, want)
	}
	if _, err := splitArgs(`a "b`); err == nil {
		t.Error("splitArgs accepted an unterminated quote")
	}
}
