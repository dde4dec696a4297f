package local

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/internal/svcnames"
)

const checkWebhooks = `apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 5
    stepWeight: 10
    webhooks:
      - name: acceptance
        type: pre-rollout
        url: %URL%
        metadata:
          cmd: "hey -n 20 -c 2 %LOAD%"
`

const checkLoadtester = `apiVersion: apps/v1
kind: Deployment
metadata: {name: flagger-loadtester, namespace: test}
spec:
  selector: {matchLabels: {app: flagger-loadtester}}
  template:
    metadata: {labels: {app: flagger-loadtester}}
    spec:
      containers:
        - name: loadtester
          image: ghcr.io/fluxcd/flagger-loadtester:0.34.0
          command: [./loadtester, -port=8080, -log-level=info, -timeout=1h]
---
apiVersion: v1
kind: Service
metadata: {name: flagger-loadtester, namespace: test}
spec:
  selector: {app: flagger-loadtester}
  ports:
    - port: 80
`

func webhooksYAML(url, load string) string {
	return strings.NewReplacer("%URL%", url, "%LOAD%", load).Replace(checkWebhooks)
}

// TestCheckNames: a Kubernetes name in a webhook, in the URL of its
// command, or in a provider's address must name a Service (or a port of
// one) that the local runtime runs, and serin validate --local says where
// one does not.
func TestCheckNames(t *testing.T) {
	for _, tc := range []struct {
		name, url, load string
		want            []string
	}{{
		name: "every form of name, and names that are not Kubernetes'",
		url:  "http://flagger-loadtester.test/", load: "http://podinfo-canary.test:9898/",
	}, {
		name: "long forms", url: "http://flagger-loadtester.test.svc.cluster.local/", load: "http://podinfo-primary.test.svc:9898/",
	}, {
		name: "names outside the runtime's namespaces", url: "https://hooks.example.com/x", load: "http://127.0.0.1:9898/",
	}, {
		name: "a Service that does not run", url: "http://loadtester.test/", load: "http://podinfo.test.svc.cluster.local:9898/",
		want: []string{"canary.yaml:14: spec.analysis.webhooks[0].url: http://loadtester.test/: no service loadtester in namespace test runs locally"},
	}, {
		name: "a port the Service does not have, in the command", url: "http://flagger-loadtester.test/", load: "http://podinfo-canary.test/",
		want: []string{"canary.yaml:16: spec.analysis.webhooks[0].metadata.cmd: http://podinfo-canary.test/: service test/podinfo-canary has no port 80 (ports: 9898)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			set := decodeSet(t, "app.yaml", checkApp, "loadtester.yaml", checkLoadtester, "canary.yaml", webhooksYAML(tc.url, tc.load))
			err := Check(set)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check accepted the set; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("want %q in:\n%v", w, err)
				}
			}
		})
	}
}

// TestCheckPrivilegedPorts: Services below port 1024 take a free port
// each, so two may share port 80 as on Kubernetes.
func TestCheckPrivilegedPorts(t *testing.T) {
	other := strings.ReplaceAll(checkLoadtester, "flagger-loadtester", "other")
	if err := Check(decodeSet(t, "a.yaml", checkLoadtester, "b.yaml", other)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// TestLoadtesterImage: Flagger's loadtester image runs as serin
// loadtester on the pod's port, with its timeout, and flags serin's has
// no counterpart of are refused where they are written.
func TestLoadtesterImage(t *testing.T) {
	c := corev1.Container{
		Name: "loadtester", Image: "ghcr.io/fluxcd/flagger-loadtester:0.34.0",
		Command: []string{"./loadtester", "-port=8080", "-log-level=info", "-timeout=1h"},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"wget", "--spider", "http://localhost:8080/healthz"}}},
			PeriodSeconds: 3,
		},
	}
	got, err := localContainer(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "serin loadtester --port=$(PORT) --timeout=1h0m0s"; strings.Join(append(got.Command, got.Args...), " ") != want {
		t.Errorf("runs %q %q, want %q", got.Command, got.Args, want)
	}
	if p := got.ReadinessProbe; p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.Exec != nil || p.PeriodSeconds != 3 {
		t.Errorf("readiness probe %+v, want httpGet /healthz every 3s", p)
	}
	if c.ReadinessProbe.Exec == nil {
		t.Error("the original container was changed")
	}
	for _, image := range []string{"weaveworks/flagger-loadtester:0.18.0", "docker.io/weaveworks/flagger-loadtester", "ghcr.io/fluxcd/flagger-loadtester@sha256:0123"} {
		if !isFlaggerLoadtester(image) {
			t.Errorf("%s is not taken for Flagger's loadtester", image)
		}
	}
	for _, image := range []string{"ghcr.io/fluxcd/flagger", "example.com/flagger-loadtester:1", ""} {
		if isFlaggerLoadtester(image) {
			t.Errorf("%s is taken for Flagger's loadtester", image)
		}
	}
	// A serin command is left as written.
	own := corev1.Container{Image: c.Image, Command: []string{"serin", "loadtester", "--allow-exec"}}
	if got, _ := localContainer(own); strings.Join(got.Command, " ") != "serin loadtester --allow-exec" {
		t.Errorf("a serin command became %q", got.Command)
	}

	// serin's image, as deploy/kustomize/loadtester runs it.
	kustomize := corev1.Container{Image: "ghcr.io/serinhq/serin:latest", Args: []string{"loadtester", "--addr=:8080", "--timeout=1h"}}
	if got, _ := localContainer(kustomize); strings.Join(append(got.Command, got.Args...), " ") != "serin loadtester --port=$(PORT) --timeout=1h" {
		t.Errorf("serin's image runs %q %q", got.Command, got.Args)
	}

	bad := strings.Replace(checkLoadtester, "-timeout=1h]", "-timeout=1h, -namespace-regexp=test]", 1)
	err = Check(decodeSet(t, "loadtester.yaml", bad))
	if err == nil || !strings.Contains(err.Error(), "loadtester.yaml:12: spec.template.spec.containers[0].command: Flagger's loadtester runs locally as serin loadtester") ||
		!strings.Contains(err.Error(), "namespace-regexp") {
		t.Fatalf("Check of an unsupported flag: %v", err)
	}
}

// TestNamesReachServices runs podinfo with its Canary and a Service on
// port 80, and reaches them by their Kubernetes names through the
// runtime's Dialer and through the table its processes read:
// podinfo-primary and podinfo-canary go straight to the primary's and the
// target's pods, whatever the split.
func TestNamesReachServices(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	port := int32(freePortT(t))
	rt := openTest(t, dir)
	objs := testObjects(port)
	low := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "test"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo-primary"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := rt.Apply(append(objs, low)...); err != nil {
		t.Fatal(err)
	}
	runTest(t, rt)
	eventually(t, 20*time.Second, "Initialized", func() bool {
		c, _ := rt.Canary("test", "podinfo")
		return c.Status.Phase == "Initialized"
	})

	clients := map[string]*http.Client{
		"the runtime's Dialer": {Transport: rt.Dialer().Transport(), Timeout: 5 * time.Second},
		"the processes' table": {Transport: (&svcnames.Dialer{Table: svcnames.FileTable(NamesPath(dir))}).Transport(), Timeout: 5 * time.Second},
	}
	version := func(c *http.Client, url string) (string, int) {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		var info struct{ Version string }
		_ = json.NewDecoder(resp.Body).Decode(&info)
		return info.Version, resp.StatusCode
	}
	for how, c := range clients {
		for _, host := range []string{"podinfo.test", "podinfo.test.svc", "podinfo.test.svc.cluster.local", "podinfo-primary.test"} {
			if v, code := version(c, fmt.Sprintf("http://%s:%d/", host, port)); v != "1.7.0" {
				t.Errorf("%s: %s answered %d %q, want 1.7.0", how, host, code, v)
			}
		}
		if v, code := version(c, "http://web.test/"); v != "1.7.0" {
			t.Errorf("%s: web.test (port 80) answered %d %q, want 1.7.0", how, code, v)
		}
		// The target is scaled to zero: its Service has no ready pod.
		if _, code := version(c, fmt.Sprintf("http://podinfo-canary.test:%d/", port)); code != http.StatusServiceUnavailable {
			t.Errorf("%s: podinfo-canary answered %d before a release, want 503", how, code)
		}
		if _, err := c.Get("http://nothing.test/"); err == nil || !strings.Contains(err.Error(), "no service nothing in namespace test runs locally") {
			t.Errorf("%s: an unknown Service: %v", how, err)
		}
	}

	// The Services a Canary makes are listed, with their addresses.
	made := map[string]bool{}
	for _, s := range rt.Snapshot().Services {
		if s.Canary == "podinfo" && len(s.Addresses) == 1 {
			made[s.Service.Name] = true
		}
	}
	if !made["podinfo-primary"] || !made["podinfo-canary"] {
		t.Errorf("services listed for the Canary: %v", made)
	}

	// Pods get the made Services' variables too, as on Kubernetes, with
	// the ports the names resolve to.
	addr, _, _ := rt.Dialer().Table().Resolve("podinfo-canary.test", port)
	rt.mu.Lock()
	var env []string
	for _, p := range rt.pods {
		if p.Spec().Deployment == "podinfo-primary" {
			for _, e := range p.Spec().Services {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	rt.mu.Unlock()
	if want := "PODINFO_CANARY_SERVICE_PORT=" + strings.TrimPrefix(addr, "127.0.0.1:"); addr == "" || !slices.Contains(env, want) {
		t.Errorf("the primary's pod has %q, want %s", env, want)
	}

	// During a release, podinfo-canary reaches the new version alone.
	err := rt.UpdateDeployment("test", "podinfo", func(spec *corev1.PodSpec) error {
		spec.Containers[0].Image = "podinfo:1.7.1"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "1.7.1 at podinfo-canary.test", func() bool {
		v, _ := version(clients["the runtime's Dialer"], fmt.Sprintf("http://podinfo-canary.test:%d/", port))
		return v == "1.7.1"
	})
}
