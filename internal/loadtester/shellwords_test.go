package loadtester

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"hey -z 1m http://podinfo-canary.test:9898/", []string{"hey", "-z", "1m", "http://podinfo-canary.test:9898/"}},
		{"  a\t b\nc  ", []string{"a", "b", "c"}},
		{`hey -H 'Content-Type: application/json' -d '{"a": 1}' u`, []string{"hey", "-H", "Content-Type: application/json", "-d", `{"a": 1}`, "u"}},
		{`a "b c" "d\"e" "f\\g" "h\i" "$x"`, []string{"a", "b c", `d"e`, `f\g`, `h\i`, "$x"}},
		{`a\ b c\\d \'e`, []string{"a b", `c\d`, "'e"}},
		{`x''y "" ''`, []string{"xy", "", ""}},
		{"a\\\nb", []string{"ab"}},
		{`'it'"'"'s'`, []string{"it's"}},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`, `"a\"`} {
		if got, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzSplitWords: no panic, and words joined back with single quotes split
// again to the same words.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"hey -z 1m http://x/", `a "b c" 'd'`, `a\ b`, `"x\"y"`, "a\\\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q: words %q requoted split to %q, %v", s, words, again, err)
		}
	})
}
