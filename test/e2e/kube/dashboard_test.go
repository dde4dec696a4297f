package kube

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/dashboard/dashtest"
	"github.com/serinhq/serin/internal/testenv"
)

// dashboardURL is the line serin dashboard prints when it serves.
var dashboardURL = regexp.MustCompile(`serin dashboard on (http://(\S+)/#token=\S+) \(cluster `)

// TestClusterDashboardInChromium steers a release on the test cluster from
// the page of the `serin dashboard --kubeconfig` binary, in a headless
// Chromium, as a person does: it sees the release advance, pauses it and
// sees the weight hold, resumes it, promotes it and sees it succeed, with
// the history chart drawn; then aborts a faulty revision's release and
// retries it, and reads the golden metrics of podinfo and podinfo-primary.
// With $SERIN_DASHBOARD_SCREENSHOTS=DIR it writes a screenshot of each
// state there as dashboard-cluster-*.png (docs/img holds them).
func TestClusterDashboardInChromium(t *testing.T) {
	browser := testenv.Chromium(t)
	cluster := startCluster(t)
	bin := buildSerin(t)
	e := setup(t, cluster, "test", false)

	// The walkthrough's Canary every 2s in steps of 5, so that the page
	// sees the weight grow before it pauses the release; a threshold of
	// 15 gives the faulty revision 30s before the controller rolls it back
	// on its own, time enough to abort it from the page.
	c := release(t, e.ns, "")
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 5, 50
	c.Spec.Analysis.Threshold = 15
	interval := 2 * time.Second
	e.initialize(t, c)

	dash := startProcess(t, bin, "dashboard", "--kubeconfig", cluster.Kubeconfig(), "-n", e.ns,
		"--prometheus", e.prom.URL, "--listen", "127.0.0.1:0")
	var url string
	testenv.Eventually(t, 30*time.Second, "serin dashboard to print its address", func(context.Context) (bool, error) {
		select {
		case <-dash.exited:
			t.Fatalf("serin dashboard exited: %v\n%s", dash.err, dash.out.String())
		default:
		}
		m := dashboardURL.FindStringSubmatch(dash.out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil, nil
	})
	if code, body, err := httpGet(t.Context(), strings.Split(url, "#")[0]+"api/state"); err != nil || code != 401 {
		t.Errorf("GET /api/state without the token: %d %.200s (%v), want 401", code, body, err)
	}

	b := testenv.OpenBrowser(t, browser)
	key := e.ns + "/podinfo"
	page := dashtest.New(t, b, key)
	waitPage, confirm := page.Wait, page.Confirm

	// Opened at the address printed, the page shows the cluster's Canary.
	b.Do("open the page", chromedp.Navigate(url))
	waitPage(30*time.Second, "the Canary on the page", func(p dashtest.Canary) bool {
		return p.Found && !p.Auth && p.Phase == string(v1beta1.PhaseInitialized)
	})

	// A release: the page sees it progress and its weight grow.
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitPage(time.Minute, "the page to show the release progressing", func(p dashtest.Canary) bool {
		return p.Phase == string(v1beta1.PhaseProgressing) && p.Weight >= 5
	})
	first := page.Last.Weight
	waitPage(30*time.Second, "the page to show the weight grow", func(p dashtest.Canary) bool { return p.Weight > first })
	b.Shoot("cluster-progressing", chromedp.CaptureScreenshot())

	// Pause: the weight holds for three intervals, on the page and in the
	// cluster.
	confirm("pause", "hold the canary weight at")
	waitPage(30*time.Second, "the page to show the release paused", func(p dashtest.Canary) bool {
		return p.Paused && strings.HasPrefix(p.Outcome, "Paused:")
	})
	held := mustCanary(t, e).Status.CanaryWeight
	if page.Last.Weight != held {
		t.Errorf("the page shows weight %d while paused, the cluster %d", page.Last.Weight, held)
	}
	page.CheckHeld(3*interval+interval/2, held, func() int { return mustCanary(t, e).Status.CanaryWeight })
	b.Shoot("cluster-paused", chromedp.CaptureScreenshot())

	// Resume: it advances.
	confirm("resume", "continue the analysis")
	waitPage(30*time.Second, "the page to show the release resumed and advancing", func(p dashtest.Canary) bool {
		return !p.Paused && p.Weight > held && strings.HasPrefix(p.Outcome, "Resumed:")
	})

	// Promote: Succeeded within two intervals.
	confirm("promote", "skip the rest of its analysis")
	start := time.Now()
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, time.Minute, v1beta1.PhaseFailed)
	if took := time.Since(start); took > 2*interval+time.Second {
		t.Errorf("promote took %s, want within two intervals (%s)", took.Round(time.Millisecond), 2*interval)
	} else {
		t.Logf("promoted %s after the confirmation", took.Round(time.Millisecond))
	}
	waitPage(30*time.Second, "the page to show the release succeeded", func(p dashtest.Canary) bool {
		return p.Phase == string(v1beta1.PhaseSucceeded) && strings.HasPrefix(p.Outcome, "Promoting:")
	})
	checkPromoted(t, e, image171)
	// The chart marks each decision and draws the thresholds.
	waitPage(30*time.Second, "the chart to mark the decisions", func(p dashtest.Canary) bool {
		return p.Chart && p.Thresholds >= 2 && p.HasReasons("Progressing", "Paused", "Resumed", "Command", "Promoting", "Succeeded")
	})
	b.Shoot("cluster-succeeded", chromedp.CaptureScreenshot())

	// A faulty revision: aborted from the page it fails, and retried it
	// is analysed again.
	e.mesh.setCanary(behaviour{ErrorRate: 0.2, LatencyMS: 4})
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image170)
	waitPage(time.Minute, "the page to show the faulty release progressing", func(p dashtest.Canary) bool {
		return p.Phase == string(v1beta1.PhaseProgressing) && p.Weight >= 5
	})
	confirm("abort", "roll back")
	waitPage(30*time.Second, "the page to show the release failed", func(p dashtest.Canary) bool {
		return p.Phase == string(v1beta1.PhaseFailed) && strings.HasPrefix(p.Outcome, "Failed:")
	})
	if c := mustCanary(t, e); c.Status.Phase != v1beta1.PhaseFailed || c.Status.FailedChecks >= c.Spec.Analysis.Threshold {
		t.Errorf("after abort the canary is %s with %d failed checks, want Failed by the command, under the threshold %d",
			c.Status.Phase, c.Status.FailedChecks, c.Spec.Analysis.Threshold)
	}
	checkRolledBack(t, e, image171)
	b.Shoot("cluster-failed", chromedp.CaptureScreenshot())

	_, failed0 := e.mesh.counts("podinfo")
	confirm("retry", "run the analysis of the failed revision again")
	waitPage(30*time.Second, "the page to show the release retried", func(p dashtest.Canary) bool {
		return p.Phase == string(v1beta1.PhaseProgressing) && strings.HasPrefix(p.Outcome, "Retry:")
	})
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseProgressing, 10*time.Second)

	// The golden metrics: the primary answered everything, the retried
	// canary fails some of its requests, and the page shows both.
	testenv.Eventually(t, time.Minute, "the retried canary failing requests", func(context.Context) (bool, error) {
		_, failed := e.mesh.counts("podinfo")
		return failed >= failed0+2, nil
	})
	waitPage(time.Minute, "the golden metrics of podinfo and podinfo-primary", func(p dashtest.Canary) bool {
		canary, okC := percent(p.Success[e.ns+"/podinfo"])
		primary, okP := percent(p.Success[e.ns+"/podinfo-primary"])
		return okC && okP && canary < 100 && primary == 100
	})
	t.Logf("success rates on the page: %v", page.Last.Success)
	// The canary's success rate falling under the threshold (99%) widens
	// its chart's range below 98.9%: the axis still ends at 100%.
	waitPage(time.Minute, "the chart of the canary's success rate under its threshold", func(p dashtest.Canary) bool {
		lo, ok := 0.0, false
		if len(p.Ticks) >= 4 {
			lo, ok = percent(p.Ticks[3])
		}
		return p.Chart && ok && lo < 98.5
	})
	for _, tick := range page.Last.Ticks {
		if v, ok := percent(tick); ok && v > 100 {
			t.Errorf("the chart's axis is labelled %s, above 100%%: %v", tick, page.Last.Ticks)
		}
	}
	// The chart of the whole story: the pause, the promotion, the abort
	// and the retry.
	page.ScrollToHistory()
	b.Shoot("cluster-history", chromedp.CaptureScreenshot())

	// Ctrl-C stops the dashboard cleanly.
	if err := dash.signal(t, syscall.SIGINT, 15*time.Second); err != nil {
		t.Errorf("serin dashboard exited with %v after SIGINT, want status 0\n%s", err, dash.out.String())
	}
}

// percent parses the page's "99.50%".
func percent(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	return v, err == nil && strings.HasSuffix(s, "%")
}
