package kube

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/judge"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
)

var (
	scale        = flag.Int("scale", 0, "run the scale benchmark with this many canaries")
	scaleWindow  = flag.Duration("scale.window", time.Minute, "how long the scale benchmark measures")
	scaleSettle  = flag.Duration("scale.settle", 30*time.Second, "how long the scale benchmark waits, once every canary is progressing, before it measures (the events of the set-up drain)")
	scaleWorkers = flag.Int("scale.workers", 32, "the controller's workers in the scale benchmark")
	scalePin     = flag.Bool("scale.pin", false, "pin the controller (this process) to CPU 1 and the cluster's processes to CPU 0 for the measured window")
	scaleProfile = flag.String("scale.cpuprofile", "", "write a CPU profile of the controller's process during the measured window to this file")
	scaleShape   = flag.String("scale.shape", "step", `what the canaries' ticks do: "step" moves every canary's weight at every 10s tick (the most writes a tick can need); "hold" judges the metrics every 10s (judge.evaluationInterval) and moves the weight every 5m (interval)`)
)

// healthy answers every metric with a passing value without querying
// anything, so that the benchmark measures the controller, not Prometheus.
type healthy struct{}

func (healthy) Query(_ context.Context, _ *v1beta1.Canary, m v1beta1.CanaryMetric, _ time.Time) (judge.Observation, error) {
	v := 100.0
	if m.Name == "request-duration" {
		v = 5
	}
	return judge.Observation{Metric: m.Name, HasValue: true, Value: v, Samples: 100}, nil
}

// requestCounter counts the requests a rest.Config's clients send, in
// all and by method and resource.
type requestCounter struct {
	n    atomic.Int64
	next http.RoundTripper

	mu    sync.Mutex
	byKey map[string]int64
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	key := r.Method + " " + resourceOf(r.URL.Path)
	if r.URL.Query().Get("watch") == "true" {
		key = "WATCH " + resourceOf(r.URL.Path)
	}
	c.mu.Lock()
	if c.byKey == nil {
		c.byKey = map[string]int64{}
	}
	c.byKey[key]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *requestCounter) counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.byKey))
	for k, v := range c.byKey {
		out[k] = v
	}
	return out
}

// resourceOf names the resource of an API path, with "/status" for the
// status subresource: /apis/serin.dev/v1beta1/namespaces/ns/canaries/x/status
// is "canaries/status".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1]
	}
	return path
}

// TestScale runs N canaries analysing at a 10s interval on one controller
// and reports its peak RSS, CPU and API requests per canary-tick and the
// lag of ticks behind their due time:
//
//	go test ./test/e2e/kube/ -run TestScale -scale=1000 -timeout 60m -v
func TestScale(t *testing.T) {
	if *scale == 0 {
		t.Skip("scale benchmark: run with -scale=N")
	}
	n := *scale
	if *scaleShape != "step" && *scaleShape != "hold" {
		t.Fatalf("-scale.shape: want step or hold, got %q", *scaleShape)
	}
	s, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cluster := testenv.Start(t, testenv.Options{
		Scheme:           s,
		CRDs:             []string{repoRoot + "/deploy/crds", repoRoot + "/deploy/crds/thirdparty"},
		ControlPlaneOnly: true,
	})
	cl := cluster.Client()
	ctx := t.Context()
	const ns = "scale"
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// The Deployments roll out at once: kube-controller-manager, kwok and
	// thousands of ReplicaSets and Pods would take most of the machine
	// while the canaries are set up, and the controller reads only the
	// Deployments' status.
	stopMarking, err := testenv.MarkDeploymentsReady(cluster.RESTConfig(), ns, 8, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stopMarking()
	parallel(t, n, func(ctx context.Context, i int) error {
		return cl.Create(ctx, scaleTarget(ns, i))
	})
	t.Logf("created %d deployments", n)

	cfg := cluster.RESTConfig()
	counter := &requestCounter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	c := startController(t, cfg, kube.Options{
		Source:       healthy{},
		Workers:      *scaleWorkers,
		KubeAPIQPS:   5000,
		KubeAPIBurst: 10000,
		MinInterval:  kube.DefaultMinInterval,
	})

	parallel(t, n, func(ctx context.Context, i int) error {
		return cl.Create(ctx, scaleCanary(ns, i, *scaleShape))
	})
	waitAll(t, cl, ns, n, 30*time.Minute, "Initialized", func(c *v1beta1.Canary) bool {
		return c.Status.Phase == v1beta1.PhaseInitialized
	})
	parallel(t, n, func(ctx context.Context, i int) error {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: scaleName(i)}, d); err != nil {
			return err
		}
		orig := d.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Image = image171
		return cl.Patch(ctx, d, client.MergeFrom(orig))
	})
	waitAll(t, cl, ns, n, 30*time.Minute, "Progressing with traffic", func(c *v1beta1.Canary) bool {
		return c.Status.Phase == v1beta1.PhaseProgressing && c.Status.CanaryWeight > 0
	})

	// Measure a window of steady analysis. Nothing changes the
	// Deployments in it: the stand-in for their controllers stops, and its
	// cache is returned to the OS so that the peak RSS is the controller's.
	stopMarking()
	runtime.GC()
	debug.FreeOSMemory()
	if *scalePin {
		pin(t, 1, 0)
	}
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(*scaleSettle):
	}
	resetPeakRSS(t)
	loadBefore := loadAvg(t)
	if *scaleProfile != "" {
		f, err := os.Create(*scaleProfile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, c.registry, counter)
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(*scaleWindow):
	}
	after := snapshot(t, c.registry, counter)
	if *scaleProfile != "" {
		pprof.StopCPUProfile()
	}
	list := &v1beta1.CanaryList{}
	if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	progressing := 0
	for _, c := range list.Items {
		if c.Status.Phase == v1beta1.PhaseProgressing {
			progressing++
		}
	}

	ticks := after.ticks - before.ticks
	if ticks == 0 {
		t.Fatal("no ticks in the window")
	}
	lag := subtractBuckets(after.lag, before.lag)
	res := fmt.Sprintf("| %s | %d | %d | %s | %.0f | %.2f | %.2f | %.1f | %.1f | %.0f |",
		*scaleShape, n, *scaleWorkers, *scaleWindow, ticks, float64(after.requests-before.requests)/ticks,
		(after.cpu-before.cpu).Seconds()*1000/ticks,
		quantile(lag, 0.5)*1000, quantile(lag, 0.99)*1000, float64(peakRSS(t))/(1<<20))
	t.Logf("shape | canaries | workers | window | ticks | API requests/tick | CPU ms/tick | lag p50 ms | lag p99 ms | peak RSS MiB")
	t.Logf("%s", res)
	dur := subtractBuckets(after.duration, before.duration)
	t.Logf("reconcile duration p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", quantile(dur, 0.5)*1000, quantile(dur, 0.99)*1000, quantile(dur, 0.999)*1000)
	t.Logf("tick lag histogram (upper bound: ticks): %s", formatBuckets(lag))
	var kinds []string
	for k, v := range after.byKey {
		if d := v - before.byKey[k]; d > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %.3f", k, float64(d)/ticks))
		}
	}
	sort.Strings(kinds)
	t.Logf("API requests per tick by method and resource: %s", strings.Join(kinds, ", "))
	t.Logf("load average (1 min) %s before the window, %s after", loadBefore, loadAvg(t))
	split := []string{fmt.Sprintf("controller (test process) %.0f%%", 100*(after.cpu-before.cpu).Seconds()/scaleWindow.Seconds())}
	names := make([]string, 0, len(after.procs))
	for name := range after.procs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := after.procs[name] - before.procs[name]
		split = append(split, fmt.Sprintf("%s %.0f%%", name, 100*d.Seconds()/scaleWindow.Seconds()))
	}
	t.Logf("CPU in the window, percent of one core: %s", strings.Join(split, ", "))
	t.Logf("expected ticks %.0f; %d of %d canaries still progressing at the end", float64(n)*scaleWindow.Seconds()/10, progressing, n)
	if out := os.Getenv("SERIN_SCALE_OUT"); out != "" {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, res)
	}
}

func scaleName(i int) string { return "app-" + strconv.Itoa(i) }

func scaleTarget(ns string, i int) *appsv1.Deployment {
	labels := map[string]string{"app": scaleName(i)}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: scaleName(i), Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: image170,
				}}},
			},
		},
	}
}

// scaleCanary analyses at a 10s interval in steps of 1%, so that it stays
// in analysis for the whole window. With shape "hold" its metrics are judged
// every 10s and its weight moves every 5m.
func scaleCanary(ns string, i int, shape string) *v1beta1.Canary {
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: scaleName(i)},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: scaleName(i)},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", Threshold: 5, StepWeight: 1, MaxWeight: 100,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", Interval: "1m", ThresholdRange: &v1beta1.CanaryThresholdRange{Min: ptr.To(99.0)}},
					{Name: "request-duration", Interval: "1m", ThresholdRange: &v1beta1.CanaryThresholdRange{Max: ptr.To(500.0)}},
				},
			},
		},
	}
	if shape == "hold" {
		c.Spec.Analysis.Interval = "5m"
		c.Spec.Analysis.Judge = &v1beta1.JudgeSpec{EvaluationInterval: "10s"}
	}
	return c
}

// parallel runs f for 0..n-1 on 32 goroutines.
func parallel(t *testing.T, n int, f func(ctx context.Context, i int) error) {
	t.Helper()
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error { return f(ctx, i) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// waitAll waits until every canary of ns satisfies ok. It lists them once
// a second: listing thousands of Canaries is work for the API server that
// would otherwise slow the controller down.
func waitAll(t *testing.T, cl client.Client, ns string, n int, timeout time.Duration, what string, ok func(*v1beta1.Canary) bool) {
	t.Helper()
	start := time.Now()
	var mu sync.Mutex
	last := -1
	var listed time.Time
	testenv.Eventually(t, timeout, fmt.Sprintf("%d canaries %s", n, what), func(ctx context.Context) (bool, error) {
		if time.Since(listed) < time.Second {
			return false, nil
		}
		listed = time.Now()
		list := &v1beta1.CanaryList{}
		if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		done := 0
		for i := range list.Items {
			if ok(&list.Items[i]) {
				done++
			}
		}
		mu.Lock()
		if done != last && done%max(1, n/10) == 0 {
			t.Logf("%d/%d canaries %s after %s", done, n, what, time.Since(start).Round(time.Second))
		}
		last = done
		mu.Unlock()
		return done == n, nil
	})
}

// measurement is a snapshot of the controller's counters.
type measurement struct {
	ticks    float64
	requests int64
	byKey    map[string]int64 // requests by method and resource
	cpu      time.Duration
	lag      []*dto.Bucket
	procs    map[string]time.Duration // the cluster's processes
	duration []*dto.Bucket            // of reconciles
}

func snapshot(t *testing.T, reg *prometheus.Registry, c *requestCounter) measurement {
	t.Helper()
	m := measurement{requests: c.n.Load(), byKey: c.counts(), cpu: cpuTime(t), procs: procCPU(t)}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "serin_canary_duration_seconds":
			for _, s := range f.GetMetric() {
				m.ticks += float64(s.GetHistogram().GetSampleCount())
			}
		case "serin_reconcile_lag_seconds":
			m.lag = f.GetMetric()[0].GetHistogram().GetBucket()
		case "serin_reconcile_duration_seconds":
			m.duration = f.GetMetric()[0].GetHistogram().GetBucket()
		}
	}
	return m
}

func subtractBuckets(a, b []*dto.Bucket) []*dto.Bucket {
	out := make([]*dto.Bucket, len(a))
	for i := range a {
		n := a[i].GetCumulativeCount()
		if i < len(b) {
			n -= b[i].GetCumulativeCount()
		}
		out[i] = &dto.Bucket{UpperBound: a[i].UpperBound, CumulativeCount: ptr.To(n)}
	}
	return out
}

// formatBuckets lists the ticks per bucket (not cumulative).
func formatBuckets(buckets []*dto.Bucket) string {
	var b strings.Builder
	prev := uint64(0)
	for _, bk := range buckets {
		fmt.Fprintf(&b, " %gs:%d", bk.GetUpperBound(), bk.GetCumulativeCount()-prev)
		prev = bk.GetCumulativeCount()
	}
	return strings.TrimSpace(b.String())
}

// quantile estimates a quantile from cumulative buckets, interpolating
// linearly inside the bucket, as PromQL's histogram_quantile.
func quantile(buckets []*dto.Bucket, q float64) float64 {
	if len(buckets) == 0 {
		return math.NaN()
	}
	total := float64(buckets[len(buckets)-1].GetCumulativeCount())
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range buckets {
		c := float64(b.GetCumulativeCount())
		if c >= rank && c > prevCount {
			return prevBound + (b.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b.GetUpperBound(), c
	}
	return math.Inf(1)
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the process's high-water mark of resident memory.
func resetPeakRSS(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset peak RSS: %v", err)
	}
}

// peakRSS reads the process's high-water mark of resident memory.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	return 0
}
