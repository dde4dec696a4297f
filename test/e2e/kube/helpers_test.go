package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/serinhq/serin/api/flagger/v1beta1"
	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
)

const (
	repoRoot   = "../../.."
	exampleDir = repoRoot + "/examples/podinfo/kubernetes"
)

// startCluster starts a cluster with serin's and the routers' CRDs, as
// installed from deploy/; kcmArgs are added to kube-controller-manager's flags.
func startCluster(t *testing.T, kcmArgs ...string) *testenv.Cluster {
	t.Helper()
	return startClusterWith(t, []string{repoRoot + "/deploy/crds", repoRoot + "/deploy/crds/thirdparty"}, kcmArgs...)
}

// startClusterWith starts a cluster with the CRDs in the given files and
// directories; kcmArgs are added to kube-controller-manager's flags.
func startClusterWith(t *testing.T, crds []string, kcmArgs ...string) *testenv.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	s, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return testenv.Start(t, testenv.Options{
		Scheme:                s,
		CRDs:                  crds,
		ControllerManagerArgs: kcmArgs,
	})
}

// readManifests decodes the objects of a YAML file.
func readManifests(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// applyExample creates the walkthrough's podinfo, frontend and load in
// namespace ns and waits until the Deployments are available.
func applyExample(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	ctx := t.Context()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: objectMeta("", ns)}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	for _, f := range []string{"podinfo.yaml", "frontend.yaml", "load.yaml"} {
		for _, u := range readManifests(t, filepath.Join(exampleDir, f)) {
			u.SetNamespace(ns)
			if err := cl.Create(ctx, u); err != nil {
				t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
	for _, d := range []string{"podinfo", "frontend", "load"} {
		waitDeploymentReady(t, cl, ns, d)
	}
}

// loadCanary reads the walkthrough's Canary for namespace ns.
func loadCanary(t *testing.T, ns string) *v1beta1.Canary {
	t.Helper()
	objs := readManifests(t, filepath.Join(exampleDir, "canary.yaml"))
	if len(objs) != 1 {
		t.Fatalf("canary.yaml holds %d objects", len(objs))
	}
	c := &v1beta1.Canary{}
	if err := runtimeConvert(objs[0], c); err != nil {
		t.Fatal(err)
	}
	c.Namespace = ns
	return c
}

// waitDeploymentReady waits until a Deployment has rolled out.
func waitDeploymentReady(t *testing.T, cl client.Client, ns, name string) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, fmt.Sprintf("deployment %s/%s ready", ns, name), func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
	})
}

// setLoggerOnce sets controller-runtime's process-wide logger, as `serin
// controller` does.
var setLoggerOnce sync.Once

// controller is a controller running in the test process.
type controller struct {
	cancel   context.CancelFunc
	done     chan error
	registry *prometheus.Registry
	once     sync.Once
	t        *testing.T
}

// startController runs the controller, with the given changes to its
// options, until stopped or the test ends.
func startController(t *testing.T, cfg *rest.Config, o kube.Options) *controller {
	t.Helper()
	o.Registry = prometheus.NewRegistry()
	o.SkipNameValidation = true
	if o.MinInterval == 0 {
		o.MinInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	setLoggerOnce.Do(func() { ctrl.SetLogger(logr.FromSlogHandler(slog.DiscardHandler)) })
	mgr, err := kube.NewManager(cfg, o)
	if err != nil {
		t.Fatalf("create controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &controller{cancel: cancel, done: make(chan error, 1), registry: o.Registry, t: t}
	go func() { c.done <- mgr.Start(ctx) }()
	t.Cleanup(c.stop)
	return c
}

// stop stops the controller and waits for it to return.
func (c *controller) stop() {
	c.once.Do(func() {
		c.cancel()
		if err := <-c.done; err != nil {
			c.t.Errorf("controller: %v", err)
		}
	})
}

// testWriter sends log lines to the test's log while it runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// getCanary reads a Canary from the API server: the serin.dev one, else
// the flagger.app one, as serin's type.
func getCanary(ctx context.Context, cl client.Client, ns, name string) (*v1beta1.Canary, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	c := &v1beta1.Canary{}
	err := cl.Get(ctx, key, c)
	if err == nil || !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
		return c, err
	}
	f := &flaggerv1beta1.Canary{}
	if ferr := cl.Get(ctx, key, f); ferr != nil {
		return c, errors.Join(err, ferr)
	}
	return (*v1beta1.Canary)(f), nil
}

// waitPhase waits until the Canary reaches phase, failing early when it
// reaches one of the phases in stop.
func waitPhase(t *testing.T, cl client.Client, ns, name string, phase v1beta1.CanaryPhase, timeout time.Duration, stop ...v1beta1.CanaryPhase) *v1beta1.Canary {
	t.Helper()
	var last *v1beta1.Canary
	testenv.Eventually(t, timeout, fmt.Sprintf("canary %s/%s %s", ns, name, phase), func(ctx context.Context) (bool, error) {
		c, err := getCanary(ctx, cl, ns, name)
		if err != nil {
			return false, err
		}
		last = c
		for _, s := range stop {
			if c.Status.Phase == s {
				t.Fatalf("canary %s/%s reached %s, want %s: %s", ns, name, s, phase, c.Status.Message)
			}
		}
		return c.Status.Phase == phase, nil
	})
	return last
}

// setImage does `kubectl set image deployment/name container=image`.
func setImage(t *testing.T, cl client.Client, ns, name, container, image string) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	orig := d.DeepCopy()
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == container {
			d.Spec.Template.Spec.Containers[i].Image = image
		}
	}
	if err := cl.Patch(t.Context(), d, client.MergeFrom(orig)); err != nil {
		t.Fatalf("set image: %v", err)
	}
}

// image returns the image of a Deployment's container.
func image(ctx context.Context, cl client.Client, ns, name, container string) (string, int32, error) {
	d := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return "", 0, err
	}
	var replicas int32 = 1
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Image, replicas, nil
		}
	}
	return "", replicas, fmt.Errorf("deployment %s has no container %s", name, container)
}

// recorder samples a value while the test runs and keeps the distinct
// values in the order they were seen.
type recorder[T comparable] struct {
	mu     sync.Mutex
	values []T
	errs   int
	stop   func() // ends the sampling; safe to call more than once
}

// record polls sample every 50ms until the test ends or stop is called.
func record[T comparable](t *testing.T, sample func(ctx context.Context) (T, error)) *recorder[T] {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &recorder[T]{stop: func() { cancel(); <-done }}
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v, err := sample(ctx)
			r.mu.Lock()
			if err != nil {
				r.errs++
			} else if n := len(r.values); n == 0 || r.values[n-1] != v {
				r.values = append(r.values, v)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.stop)
	return r
}

// stopAt waits until the recorder has seen want as its last value (the
// test saw it with its own read, and the recorder samples every 50ms),
// then stops it.
func (r *recorder[T]) stopAt(t *testing.T, want T) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the recorder to see %v", want), func(context.Context) (bool, error) {
		seen := r.seen()
		return len(seen) > 0 && seen[len(seen)-1] == want, nil
	})
	r.stop()
}

func (r *recorder[T]) seen() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.values...)
}

// recordWeights records the canary's weight in a route.
func recordWeights(t *testing.T, route func(ctx context.Context) (int, int, error)) *recorder[int] {
	return record(t, func(ctx context.Context) (int, error) {
		_, c, err := route(ctx)
		return c, err
	})
}
