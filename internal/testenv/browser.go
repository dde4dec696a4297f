package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the Chromium binary the browser tests drive.
const EnvChromium = "SERIN_CHROMIUM"

// Chromium returns the path of the browser: $SERIN_CHROMIUM, else a
// chromium on PATH. Without one the test is skipped, or fails when
// EnvRequire is set.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "testenv: no Chromium: set " + EnvChromium + " or install chromium (hack/testenv/install.sh)"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Tab is a tab of a headless Chromium driven over CDP, 1280x1000 pixels.
type Tab struct {
	t testing.TB
	// Ctx runs actions in the tab for as long as the test lasts.
	Ctx context.Context
}

// OpenBrowser starts the Chromium at path for the test, which stops it at
// its end.
func OpenBrowser(t testing.TB, path string) *Tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	// The first action starts the browser, for as long as ctx lives; each
	// later one is bounded on its own.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &Tab{t: t, Ctx: ctx}
}

// Do runs actions within a minute; what names them in the failure.
func (b *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates js, whose value must be a string.
func (b *Tab) Eval(what, js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// EnvScreenshots names the directory where Shoot writes the screenshots
// the docs show (docs/img); unset, they are taken and checked only.
const EnvScreenshots = "SERIN_DASHBOARD_SCREENSHOTS"

// Shoot takes a screenshot with action (chromedp.CaptureScreenshot for the
// view, chromedp.Screenshot for an element), checks it is a PNG, and
// writes it as dashboard-NAME.png into $SERIN_DASHBOARD_SCREENSHOTS when
// set.
func (b *Tab) Shoot(name string, action chromedp.Action[[]byte]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		b.t.Errorf("screenshot %s: %d bytes, want a PNG", name, len(png))
	}
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "dashboard-"+name+".png"), png, 0o644); err != nil {
			b.t.Error(err)
		}
	}
}
