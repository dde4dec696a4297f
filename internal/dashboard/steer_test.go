package dashboard_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/dashboard/dashtest"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/testenv"
)

// TestSteerInChromium steers a real release from the page in a headless
// Chromium driven over CDP: it opens the page with its token, sees the
// release advance, pauses it and sees the weight hold, resumes it, promotes
// it and sees it succeed, with the history chart drawn; and it checks that
// the API refuses a request without the token and a command from another
// origin. With $SERIN_DASHBOARD_SCREENSHOTS=DIR it writes a screenshot of
// each state there (docs/img holds them).
func TestSteerInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes and a browser")
	}
	browser := testenv.Chromium(t)
	const interval = time.Second
	r := startRelease(t, func(c *v1beta1.Canary) {
		// Small steps, so that the page sees the weight grow before it
		// pauses the release.
		c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 10, 90
	})

	auth, err := dashboard.NewTokenAuth()
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.ServeHTTP(w, req) }))
	h = dashboard.New(dashboard.Options{
		Source: local.NewClient(r.dir), Auth: auth, Addr: srv.Listener.Addr().String(),
		Window: 30 * time.Second, Context: t.Context(), SampleEvery: interval,
	})
	srv.Start()
	defer srv.Close()

	// The API refuses requests without the token, commands from another
	// origin, and Host names other than this machine's.
	status := func(method, path, token string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := status(http.MethodGet, "/api/state", "", nil); code != http.StatusUnauthorized {
		t.Errorf("state without the token: %d %s, want 401", code, body)
	}
	if code, body := status(http.MethodGet, "/api/state", auth.Token(), nil); code != http.StatusOK {
		t.Errorf("state with the token: %d %s, want 200", code, body)
	}
	if code, body := status(http.MethodPost, "/api/canaries/test/podinfo/promote", "", map[string]string{"Content-Type": "application/json"}); code != http.StatusUnauthorized {
		t.Errorf("promote without the token: %d %s, want 401", code, body)
	}
	if code, body := status(http.MethodPost, "/api/canaries/test/podinfo/abort", auth.Token(), map[string]string{
		"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
	}); code != http.StatusForbidden || !strings.Contains(body, "another") {
		t.Errorf("abort from another origin: %d %s, want 403", code, body)
	}
	if code, body := status(http.MethodGet, "/api/state", auth.Token(), map[string]string{"Host": "rebound.example:80"}); code != http.StatusMisdirectedRequest {
		t.Errorf("state for Host rebound.example: %d %s, want 421", code, body)
	}

	b := testenv.OpenBrowser(t, browser)
	do, eval := b.Do, b.Eval
	page := dashtest.New(t, b, "test/podinfo")
	waitPage, confirm := page.Wait, page.Confirm

	// Without the token the page asks for one.
	do("open the page without the token", chromedp.Navigate(srv.URL+"/"))
	waitPage(20*time.Second, "the page to ask for the token", func(p dashtest.Canary) bool { return p.Auth && !p.Found })

	// A wrong token pasted in keeps it asking; the right one shows the
	// Canary.
	do("paste a wrong token", chromedp.SendKeys(chromedp.CSS(`#token-input`), "not-the-token"), chromedp.Click(chromedp.CSS(`#token-save`)))
	waitPage(20*time.Second, "the page to ask again", func(p dashtest.Canary) bool { return p.Auth && !p.Found })
	do("paste the token", chromedp.SendKeys(chromedp.CSS(`#token-input`), auth.Token()), chromedp.Click(chromedp.CSS(`#token-save`)))
	waitPage(20*time.Second, "the Canary on the page after pasting the token", func(p dashtest.Canary) bool { return p.Found && !p.Auth })

	// Opened with the token in its address, the page stores it and takes it
	// out of the address.
	eval("forget the token", `sessionStorage.clear(), ""`)
	do("open the page", chromedp.Navigate(srv.URL+"/#token="+auth.Token()))
	waitPage(20*time.Second, "the Canary on the page", func(p dashtest.Canary) bool { return p.Found && p.Phase == "Initialized" && !p.Auth })
	href := eval("read the address", `location.href`)
	stored := eval("read the stored token", `sessionStorage.getItem("serin-dashboard-token") || ""`)
	if strings.Contains(href, "token") || stored != auth.Token() {
		t.Errorf("address %q, stored token %q: want the token stored and gone from the address", href, stored)
	}

	if err := r.rt.SetImage("test", "podinfo", "podinfod", "quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatal(err)
	}
	waitPage(60*time.Second, "the page to show the release progressing", func(p dashtest.Canary) bool { return p.Phase == "Progressing" && p.Weight >= 10 })
	first := page.Last.Weight
	waitPage(30*time.Second, "the page to show the weight grow", func(p dashtest.Canary) bool { return p.Weight > first })
	b.Shoot("progressing", chromedp.CaptureScreenshot())

	confirm("pause", "hold the canary weight at")
	waitPage(30*time.Second, "the page to show the release paused", func(p dashtest.Canary) bool {
		return p.Paused && strings.HasPrefix(p.Outcome, "Paused:")
	})
	held := r.canary().Status.CanaryWeight
	if page.Last.Weight != held {
		t.Errorf("the page shows weight %d while paused, the runtime %d", page.Last.Weight, held)
	}
	// The weight holds for three intervals.
	page.CheckHeld(3*interval+interval/2, held, func() int { return r.canary().Status.CanaryWeight })
	b.Shoot("paused", chromedp.CaptureScreenshot())

	confirm("resume", "continue the analysis")
	waitPage(30*time.Second, "the page to show the release resumed and advancing", func(p dashtest.Canary) bool {
		return !p.Paused && p.Weight > held && strings.HasPrefix(p.Outcome, "Resumed:")
	})

	confirm("promote", "skip the rest of its analysis")
	waitPage(60*time.Second, "the page to show the release succeeded", func(p dashtest.Canary) bool {
		return p.Phase == "Succeeded" && strings.HasPrefix(p.Outcome, "Promoting:")
	})
	if c := r.canary(); c.Status.Phase != v1beta1.PhaseSucceeded || c.Status.LastPromotedSpec != c.Status.LastAppliedSpec {
		t.Errorf("the runtime's canary: %s, promoted %q of %q", c.Status.Phase, c.Status.LastPromotedSpec, c.Status.LastAppliedSpec)
	}
	// The chart marks each decision: the commands, the pause, the
	// resumption and the promotion; and draws the thresholds.
	waitPage(30*time.Second, "the chart to mark the decisions", func(p dashtest.Canary) bool {
		return p.Chart && p.Thresholds >= 2 && p.HasReasons("Progressing", "Paused", "Resumed", "Command", "Promoting", "Succeeded")
	})
	b.Shoot("succeeded", chromedp.CaptureScreenshot())
	b.Shoot("history", chromedp.Screenshot(chromedp.CSS(`[data-canary="test/podinfo"]`)))
}

// TestPageWith500Canaries opens the page on 500 Canaries in Chromium and
// checks what keeps it fast: no chart is drawn until asked for, and a poll
// that brings nothing new rebuilds no card.
func TestPageWith500Canaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	b := testenv.OpenBrowser(t, testenv.Chromium(t))
	auth, err := dashboard.NewTokenAuth()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dashboard.New(dashboard.Options{Source: dashboard.ManyCanaries(500), Auth: auth, Context: t.Context()}))
	defer srv.Close()
	b.Do("open the page", chromedp.Navigate(srv.URL+"/#token="+auth.Token()))
	count := func(sel string) string {
		return b.Eval("count "+sel, fmt.Sprintf(`String(document.querySelectorAll(%q).length)`, sel))
	}
	eventually(t, 30*time.Second, "500 cards", func() bool { return count("article.card") == "500" })
	b.Eval("mark the cards", `window.marked = [...document.querySelectorAll("article.card .card-main")], window.updated = document.getElementById("updated").textContent, ""`)
	// Two more polls: the clock the page shows moves each time.
	for range 2 {
		eventually(t, 30*time.Second, "another poll", func() bool {
			return b.Eval("read the clock", `document.getElementById("updated").textContent === window.updated ? "" : (window.updated = document.getElementById("updated").textContent)`) != ""
		})
	}
	if kept := b.Eval("check the cards", `String(window.marked.filter((n) => n.isConnected).length)`); kept != "500" {
		t.Errorf("%s of 500 unchanged cards kept their nodes across polls, want all", kept)
	}
	if n := count(".history svg"); n != "0" {
		t.Errorf("%s charts drawn on a page of 500 Canaries before any was asked for", n)
	}
	if n := count(".history:not([hidden])"); n != "0" {
		t.Errorf("%s histories open by default on a page of 500 Canaries", n)
	}
	b.Do("show one history", chromedp.Click(chromedp.CSS(`[data-canary="ns-7/app-7"] .toggle-history`)))
	eventually(t, 30*time.Second, "the chart of app-7", func() bool {
		return count(`[data-canary="ns-7/app-7"] .history:not([hidden]) svg .line-weight`) == "1"
	})
	if n := count(".history svg"); n != "1" {
		t.Errorf("%s charts drawn, want only the one asked for", n)
	}
}
