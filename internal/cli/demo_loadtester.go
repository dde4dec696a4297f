package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/local"
)

// The walkthrough's loadtester, as examples/podinfo/local/loadtester.yaml
// names it.
const (
	demoLoadtester     = "flagger-loadtester"
	demoLoadtesterFile = "podinfo/local/loadtester.yaml"
	demoWebhooksCanary = "podinfo/canary-webhooks.yaml"
	demoCanaryFile     = "podinfo/canary.yaml"
)

// demoGatePayload is the payload that opens the podinfo Canary's gate.
const demoGatePayload = `{"name":"podinfo","namespace":"test"}`

// demoFileWanted says whether the demo runs an embedded manifest: the
// loadtester and the Canary with its webhooks with --with-loadtester, the
// walkthrough's plain Canary without.
func demoFileWanted(path string, withLoadtester bool) bool {
	switch path {
	case demoLoadtesterFile, demoWebhooksCanary:
		return withLoadtester
	case demoCanaryFile:
		return !withLoadtester
	}
	return true
}

// webhookLines describe a Canary's webhooks, one a line, for the demo's
// introduction.
func webhookLines(c *v1beta1.Canary) string {
	var b strings.Builder
	b.WriteString("Webhooks, served by Flagger's loadtester (run as serin loadtester, reached as flagger-loadtester.test):\n")
	for _, w := range c.Spec.Analysis.Webhooks {
		what := w.URL
		if cmd := w.Metadata["cmd"]; cmd != "" {
			what = cmd
		}
		fmt.Fprintf(&b, "  %-18s %-16s %s\n", w.Type, w.Name, what)
	}
	return b.String()
}

// loadtesterView follows the loadtester of serin demo --with-loadtester:
// the tasks it runs, from its log, and the promotion gate.
type loadtesterView struct {
	rt   *local.Runtime
	exit bool // open the gate instead of waiting for a person

	offsets    map[string]int64 // read so far, by log file
	finished   int
	failed     int
	notes      []string
	gateOpened bool
}

func newLoadtesterView(rt *local.Runtime, exit bool) *loadtesterView {
	return &loadtesterView{rt: rt, exit: exit, offsets: map[string]int64{}}
}

// demoLine is a line of the demo's output and when what it says happened,
// to show events and the loadtester's tasks in the order they happened.
type demoLine struct {
	at   time.Time
	text string
}

func newDemoLine(at time.Time, format string, args ...any) demoLine {
	return demoLine{at, at.Local().Format("15:04:05") + " " + fmt.Sprintf(format, args...)}
}

// step returns the lines to show of the tasks the loadtester ran since
// the last step, and the notes to show under the view: while the
// promotion gate holds, how to open it. With exit it opens the gate
// itself, as the curl it shows would.
func (v *loadtesterView) step(ctx context.Context, c *v1beta1.Canary) (lines []demoLine, notes []string) {
	lines = v.taskLines()
	switch {
	case c.Status.Phase == v1beta1.PhaseWaitingPromotion && !v.gateOpened:
		addr := v.addr()
		shown := v.notes != nil
		v.notes = []string{
			"The promotion gate holds podinfo at its maximum weight. Open it with either of:",
			"  serin promote canary/podinfo",
			fmt.Sprintf("  curl -d '%s' http://%s/gate/open", demoGatePayload, addr),
		}
		if v.exit && shown { // once the way to open it was shown
			v.gateOpened = true
			if err := openGate(ctx, addr); err != nil {
				lines = append(lines, newDemoLine(time.Now(), "Could not open the gate: %v", err))
			} else {
				lines = append(lines, newDemoLine(time.Now(), "Gate opened with the curl above (--exit does it for you)"))
			}
		}
	case c.Status.Phase != v1beta1.PhaseWaitingPromotion:
		v.notes = nil
	}
	return lines, v.notes
}

// addr is the loadtester Service's local address, as serin get services
// shows it.
func (v *loadtesterView) addr() string {
	for _, s := range v.rt.Snapshot().Services {
		if s.Service.Namespace == demoNamespace && s.Service.Name == demoLoadtester && len(s.Addresses) > 0 {
			return s.Addresses[0]
		}
	}
	return "<flagger-loadtester>"
}

// openGate opens the podinfo Canary's promotion gate on the loadtester at
// addr.
func openGate(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + addr + "/gate/open"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(demoGatePayload))
	if err != nil {
		return fmt.Errorf("open the gate at %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("open the gate at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("open the gate at %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// taskLines reads the loadtester's new log lines and describes its tasks.
func (v *loadtesterView) taskLines() []demoLine {
	var out []demoLine
	for _, path := range v.rt.LogFiles(demoNamespace, demoLoadtester) {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if _, err := f.Seek(v.offsets[path], io.SeekStart); err != nil {
			f.Close()
			continue
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				break // an incomplete line is read again next time
			}
			v.offsets[path] += int64(len(line))
			if s, ok := v.taskLine(line); ok {
				out = append(out, s)
			}
		}
		f.Close()
	}
	return out
}

// taskLine describes one log record of the loadtester about a task.
func (v *loadtesterView) taskLine(line []byte) (demoLine, bool) {
	var rec struct {
		Time   time.Time `json:"time"`
		Msg    string    `json:"msg"`
		Cmd    string    `json:"cmd"`
		Output string    `json:"output"`
		Err    string    `json:"err"`
	}
	if json.Unmarshal(line, &rec) != nil {
		return demoLine{}, false
	}
	switch rec.Msg {
	case "task starting":
		return newDemoLine(rec.Time, "Loadtester started %s", rec.Cmd), true
	case "task finished":
		v.finished++
		return newDemoLine(rec.Time, "Loadtester finished: %s", firstLine(cmp.Or(rec.Output, rec.Cmd))), true
	case "task failed", "task refused":
		v.failed++
		return newDemoLine(rec.Time, "Loadtester %s: %s: %s", strings.TrimPrefix(rec.Msg, "task "), rec.Cmd, firstLine(rec.Err)), true
	}
	return demoLine{}, false
}

// summary is the loadtester's line in the demo's summary.
func (v *loadtesterView) summary() string {
	return fmt.Sprintf("  %-28s %d finished, %d failed\n", "loadtester tasks:", v.finished, v.failed)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
