package dashboard_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/dashboard"
	"github.com/serinhq/serin/internal/demo"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/metrics/builtin"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/testenv"
)

// TestMain lets the test binary stand in for podinfo: with
// SERIN_DASHBOARD_TEST_APP=podinfo it serves podinfo on $PORT.
func TestMain(m *testing.M) {
	if os.Getenv("SERIN_DASHBOARD_TEST_APP") != "podinfo" {
		os.Exit(m.Run())
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := demo.NewPodinfo(demo.PodinfoOptions{
		Version:  demo.VersionFromImage(os.Getenv("SERIN_CONTAINER_IMAGE")),
		Hostname: os.Getenv("HOSTNAME"),
		Rand:     rand.New(rand.NewPCG(1, 2)),
	})
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := demo.Serve(ctx, l, p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func walkthrough(port int32) []any {
	one := int32(1)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: "quay.io/stefanprodan/podinfo:1.7.0",
					Command: []string{os.Args[0]},
					Env:     []corev1.EnvVar{{Name: "SERIN_DASHBOARD_TEST_APP", Value: "podinfo"}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")},
					}},
				}}},
			},
		},
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo"}, Ports: []corev1.ServicePort{{Port: port}}},
	}
	minRate, maxDur := 99.0, 500.0
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: port},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "1s", Threshold: 5, StepWeight: 20, MaxWeight: 80,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", Interval: "1m", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: &minRate}},
					{Name: "request-duration", Interval: "1m", ThresholdRange: &v1beta1.CanaryThresholdRange{Max: &maxDur}},
				},
			},
		},
	}
	return []any{d, s, c}
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// release is the walkthrough run by a real local runtime, with podinfo
// processes behind serin's proxy and a load generator.
type release struct {
	rt   *local.Runtime
	dir  string
	port int32
}

func (r *release) canary() *v1beta1.Canary { c, _ := r.rt.Canary("test", "podinfo"); return c }

// startRelease starts the walkthrough, its Canary changed by tune if not
// nil, and waits for the Canary to initialise; the test's cleanup stops
// it.
func startRelease(t *testing.T, tune func(*v1beta1.Canary)) *release {
	t.Helper()
	r := &release{dir: t.TempDir(), port: freePort(t)}
	rt, err := local.Open(local.Options{StateDir: r.dir, Self: "/nonexistent", NewEngine: func(a local.Adapters) local.Engine {
		return engine.New(a.Workload, a.Router, builtin.New(a.Telemetry, time.Now), nil, nil)
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.rt = rt
	objs := walkthrough(r.port)
	if tune != nil {
		tune(objs[2].(*v1beta1.Canary))
	}
	if _, err := rt.Apply(objs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, rt.ServeAPI) }()
	loadDone := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-loadDone
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	go func() { // a load generator, as the walkthrough's
		defer close(loadDone)
		cl := &http.Client{Timeout: 2 * time.Second}
		for ctx.Err() == nil {
			if resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/", r.port)); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	eventually(t, 60*time.Second, "the Canary to initialise", func() bool {
		c := r.canary()
		return c != nil && c.Status.Phase == v1beta1.PhaseInitialized
	})
	return r
}

// TestDashboardInChromium runs a real release with podinfo processes behind
// serin's proxy, pauses it mid-way, serves the dashboard and checks what a
// headless Chromium renders from it.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes and a browser")
	}
	browser := testenv.Chromium(t)
	r := startRelease(t, nil)
	rt, dir, canary := r.rt, r.dir, r.canary
	if err := rt.SetImage("test", "podinfo", "podinfod", "quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the canary weight to reach 40", func() bool {
		c := canary()
		return c.Status.Phase == v1beta1.PhaseProgressing && c.Status.CanaryWeight >= 40 && len(c.Status.Metrics) > 0
	})
	if err := rt.Command("test", "podinfo", rollout.Pause); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the release to pause", func() bool {
		for _, cond := range canary().Status.Conditions {
			if cond.Type == rollout.PausedCondition && cond.Status == metav1.ConditionTrue {
				return true
			}
		}
		return false
	})
	c := canary()
	weight, phase := c.Status.CanaryWeight, string(c.Status.Phase)

	srv := httptest.NewServer(dashboard.New(dashboard.Options{Source: local.NewClient(dir), Window: 30 * time.Second, Context: t.Context()}))
	defer srv.Close()

	dom := runChromium(t, browser, "--dump-dom", srv.URL)
	for _, want := range []string{
		`data-canary="test/podinfo"`,
		fmt.Sprintf(`data-phase="%s">%s<`, phase, phase),
		fmt.Sprintf(`data-weight="%d">%d%%<`, weight, weight),
		fmt.Sprintf(`class="seg seg-canary" style="width: %d%%;"`, weight), // drawn despite the page's CSP
		`>Paused<`,
		`request-success-rate`, `≥ 99%`, `≤ 500 ms`,
		`data-deployment="test/podinfo-primary"`, `data-deployment="test/podinfo"`,
		`class="pill pill-ok">live<`,
		// A dashboard without an authenticator takes no commands: it
		// shows no buttons, and says so.
		`>view only<`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page has no %s", want)
		}
	}
	if strings.Contains(dom, `data-action=`) {
		t.Error("a dashboard that takes no commands shows command buttons")
	}
	// Both sides served traffic: each row shows a success rate, RPS and
	// latencies rendered by the page's script.
	for _, d := range []string{"podinfo-primary", "podinfo"} {
		row := regexp.MustCompile(`(?s)<tr data-deployment="test/` + d + `">.*?</tr>`).FindString(dom)
		for _, cell := range []string{
			`class="num success good">100\.00%<`,
			`class="num rps">\d+\.\drps<`,
			`class="num p50">[\d.]+ms<`,
			`class="num p99">[\d.]+ms<`,
		} {
			if !regexp.MustCompile(cell).MatchString(row) {
				t.Errorf("deployment %s: no %s in its row:\n%s", d, cell, row)
			}
		}
	}
	if t.Failed() {
		t.Logf("rendered DOM:\n%s", dom)
	}

	shots := t.TempDir()
	png := filepath.Join(shots, "dashboard.png")
	runChromium(t, browser, "--screenshot="+png, "--window-size=1280,1500", "--hide-scrollbars", srv.URL)
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10_000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot: %d bytes starting %q, want a PNG", len(b), b[:min(len(b), 8)])
	}
	if keep := os.Getenv("SERIN_DASHBOARD_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runChromium runs headless Chromium on url with args and returns its
// standard output.
func runChromium(t *testing.T, browser string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := args[len(args)-1]
	argv := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=4000",
	}, args[:len(args)-1]...)
	cmd := exec.CommandContext(ctx, browser, append(argv, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium did not finish in time\n%s", stderr.String())
		}
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}
