package demo

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Side is the golden metrics of one version over the last seconds.
type Side struct {
	Version     string
	Requests    int64
	SuccessRate float64
	P99         float64 // milliseconds
}

// Frame is what the live view shows at one moment.
type Frame struct {
	Phase     string
	Weight    int
	MaxWeight int
	Failed    int
	Threshold int
	Primary   Side
	Canary    Side
	// Decisions are the latest events, oldest first.
	Decisions []string
	// Notes are lines shown under the decisions until they change, such
	// as how to open a gate that holds the release.
	Notes   []string
	Elapsed time.Duration
}

// Bar draws weight out of 100 as a bar of width cells.
func Bar(weight, width int) string {
	weight = min(max(weight, 0), 100)
	full := weight * width / 100
	return "[" + strings.Repeat("#", full) + strings.Repeat("-", width-full) + "]"
}

func (s Side) String() string {
	if s.Requests == 0 {
		return fmt.Sprintf("%-7s     no traffic", s.Version)
	}
	return fmt.Sprintf("%-7s %6.2f%% ok  p99 %4.0fms", s.Version, s.SuccessRate, s.P99)
}

// Lines renders the frame for a terminal.
func (f Frame) Lines() []string {
	lines := []string{
		fmt.Sprintf("  phase    %-16s %s elapsed", f.Phase, f.Elapsed.Round(time.Second)),
		fmt.Sprintf("  canary   %s %3d%%  (promotes at %d%%)", Bar(f.Weight, 40), f.Weight, f.MaxWeight),
		fmt.Sprintf("  checks   %d failed of %d allowed", f.Failed, f.Threshold),
		"  primary  " + f.Primary.String(),
		"  canary   " + f.Canary.String(),
		"  decisions:",
	}
	for _, d := range f.Decisions {
		lines = append(lines, "    "+d)
	}
	for _, n := range f.Notes {
		lines = append(lines, "  "+n)
	}
	return lines
}

// Line renders the frame as one line, for output that is not a terminal.
func (f Frame) Line() string {
	return fmt.Sprintf("%-12s weight %3d%% %s  primary %s | canary %s", f.Phase, f.Weight, Bar(f.Weight, 10), f.Primary, f.Canary)
}

// LiveView redraws a frame in place on a terminal.
type LiveView struct {
	w     io.Writer
	width int // columns; longer lines are cut so that none wraps
	drawn int
}

// NewLiveView returns a view writing to a terminal width columns wide.
func NewLiveView(w io.Writer, width int) *LiveView {
	if width <= 0 {
		width = 80
	}
	return &LiveView{w: w, width: width}
}

// Draw replaces the last frame drawn with f.
func (v *LiveView) Draw(f Frame) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn) // up, then clear to the end
	}
	lines := f.Lines()
	for _, l := range lines {
		// A line that wraps takes two rows, and the next redraw would
		// move up too few of them.
		b.WriteString(cut(l, v.width-1))
		b.WriteString("\n")
	}
	v.drawn = len(lines)
	_, _ = io.WriteString(v.w, b.String())
}

// cut shortens s to at most n runes, marking the cut with "…".
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Summary is the outcome of a demo release.
type Summary struct {
	Promoted bool
	Phase    string
	Duration time.Duration
	// Served counts the requests each version served during the release.
	Served []Side
	// Failures are the requests that failed (5xx or no answer).
	Failures int64
	Message  string
}

// String renders the summary.
func (s Summary) String() string {
	result := "rolled back"
	if s.Promoted {
		result = "promoted"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Release %s (%s) after %s.\n", result, s.Phase, s.Duration.Round(100*time.Millisecond))
	if s.Message != "" {
		fmt.Fprintf(&b, "  last decision: %s\n", s.Message)
	}
	for _, v := range s.Served {
		fmt.Fprintf(&b, "  %-28s %d\n", "requests served by "+v.Version+":", v.Requests)
	}
	fmt.Fprintf(&b, "  %-28s %d\n", "failed requests:", s.Failures)
	return b.String()
}
