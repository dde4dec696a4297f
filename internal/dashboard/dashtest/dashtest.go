// Package dashtest reads and steers the dashboard's page in a headless
// Chromium (testenv.Tab), as a person does: for the browser tests of the
// dashboard on the local runtime and on a cluster. It knows the page's
// markup (internal/dashboard/static) so that the tests need not.
package dashtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/serinhq/serin/internal/testenv"
)

// Canary is what the page shows of one Canary, and of the Deployments'
// golden metrics.
type Canary struct {
	// Found is whether the page shows the Canary.
	Found bool `json:"found"`
	// Auth is whether the page asks for the token.
	Auth   bool   `json:"auth"`
	Weight int    `json:"weight"`
	Phase  string `json:"phase"`
	Paused bool   `json:"paused"`
	// Outcome is the line under the card that says what became of the
	// last command given from the page.
	Outcome string `json:"outcome"`
	// Chart is whether the history chart is drawn and shown.
	Chart bool `json:"chart"`
	// Reasons are those of the decisions marked on the chart.
	Reasons []string `json:"reasons"`
	// Thresholds is the number of threshold lines on the chart.
	Thresholds int `json:"thresholds"`
	// Ticks are the labels of the charts' value axes, top then bottom of
	// each chart.
	Ticks []string `json:"ticks"`
	// Success is the SUCCESS column of each Deployment's row, by
	// namespace/name ("-" without traffic).
	Success map[string]string `json:"success"`
}

// HasReasons says whether the chart marks a decision of each reason.
func (c Canary) HasReasons(reasons ...string) bool {
	for _, r := range reasons {
		found := false
		for _, s := range c.Reasons {
			found = found || s == r
		}
		if !found {
			return false
		}
	}
	return true
}

// read reads the page; %[1]q is the Canary's namespace/name.
const read = `(() => {
  const auth = !document.getElementById("auth").hidden;
  const success = {};
  for (const tr of document.querySelectorAll("#deployments tr[data-deployment]")) {
    success[tr.dataset.deployment] = tr.querySelector(".success").textContent;
  }
  const c = document.querySelector('[data-canary=%[1]q]');
  if (!c) return { found: false, auth, success };
  const o = c.querySelector(".outcome:not([hidden])");
  return {
    found: true, auth, success,
    weight: +c.querySelector(".weight").dataset.weight,
    phase: c.querySelector(".phase").dataset.phase,
    paused: !!c.querySelector(".paused"),
    outcome: o ? o.textContent : "",
    chart: !!c.querySelector(".history:not([hidden]) svg .line-weight"),
    reasons: [...c.querySelectorAll(".history .decision")].map((d) => d.dataset.reason),
    thresholds: c.querySelectorAll(".history .threshold").length,
    ticks: [...c.querySelectorAll('.history .panel > text.chart-tick[text-anchor="end"]')].map((n) => n.textContent),
  };
})()`

// Page is the dashboard open in a tab, watched for one Canary.
type Page struct {
	t   testing.TB
	tab *testenv.Tab
	key string
	// Last is what Read read last.
	Last Canary
}

// New watches the Canary key (namespace/name) on the page open in tab.
func New(t testing.TB, tab *testenv.Tab, key string) *Page {
	return &Page{t: t, tab: tab, key: key}
}

// Read reads what the page shows now.
func (p *Page) Read() Canary {
	p.t.Helper()
	p.Last = Canary{}
	js := "JSON.stringify(" + fmt.Sprintf(read, p.key) + ")"
	if err := json.Unmarshal([]byte(p.tab.Eval("read the page", js)), &p.Last); err != nil {
		p.t.Fatalf("read the page: %v", err)
	}
	return p.Last
}

// Wait reads the page every 100ms until f is true of it, and fails the
// test after timeout, saying it waited for what.
func (p *Page) Wait(timeout time.Duration, what string, f func(c Canary) bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !f(p.Read()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s; the page shows %+v", timeout, what, p.Last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Confirm clicks the Canary's button for cmd (promote, abort, pause,
// resume, retry), checks that the page's confirmation names the Canary and
// says effect, and confirms.
func (p *Page) Confirm(cmd, effect string) {
	p.t.Helper()
	btn := chromedp.CSS(fmt.Sprintf(`[data-canary=%q] button[data-action=%q]:not([disabled])`, p.key, cmd))
	p.tab.Do("click "+cmd, chromedp.WaitVisible(btn), chromedp.Click(btn), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	text := p.tab.Eval("read the confirmation", `document.getElementById("confirm-text").textContent`)
	if !strings.Contains(text, p.key) || !strings.Contains(text, effect) {
		p.t.Errorf("the confirmation of %s says %q, want %s and %q", cmd, text, p.key, effect)
	}
	p.tab.Do("confirm "+cmd, chromedp.Click(chromedp.CSS(`#confirm-ok`)), chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)))
}

// ScrollToHistory scrolls the page until the bottom of the Canary's
// history chart is at the bottom of the view, for a screenshot.
func (p *Page) ScrollToHistory() {
	p.t.Helper()
	p.tab.Eval("scroll to the chart", fmt.Sprintf(`document.querySelector('[data-canary=%q] .history').scrollIntoView({block: "end"}), ""`, p.key))
}

// CheckHeld reads the page and the runtime's canary weight (weight) every
// 100ms for d, and fails the test as soon as either moves from held or the
// page stops showing the release Progressing and paused.
func (p *Page) CheckHeld(d time.Duration, held int, weight func() int) {
	p.t.Helper()
	for start := time.Now(); time.Since(start) < d; {
		if c := p.Read(); c.Weight != held || !c.Paused || c.Phase != "Progressing" {
			p.t.Fatalf("while paused the page shows %+v, want weight %d held", c, held)
		}
		if w := weight(); w != held {
			p.t.Fatalf("while paused the runtime moved the weight from %d to %d", held, w)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
