package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

// TestDashboardOnCluster runs serin dashboard --kubeconfig -n on a real
// API server and reads a Canary created after it started from its JSON,
// with the token it printed and not without.
func TestDashboardOnCluster(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}, ControlPlaneOnly: true})
	ns := c.CreateNamespace(t, "test")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	root := NewRootCommand()
	var out, errOut testenv.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"dashboard", "--kubeconfig", c.Kubeconfig(), "-n", ns, "--listen", addr, "--state-dir", t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serin dashboard: %v\n%s", err, errOut.String())
		}
		if !strings.Contains(out.String(), "namespace "+ns) || !strings.Contains(errOut.String(), "no --prometheus") {
			t.Errorf("banner %q / %q names neither the namespace nor the missing Prometheus", out.String(), errOut.String())
		}
	}()

	cn := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"}, Spec: v1beta1.CanarySpec{
		TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
		Service:   v1beta1.CanaryService{Port: 9898},
		Analysis:  &v1beta1.CanaryAnalysis{Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50},
	}}
	if err := c.Client().Create(t.Context(), cn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	token := ""
	for {
		if _, tok, ok := strings.Cut(out.String(), "#token="); ok && token == "" {
			token, _, _ = strings.Cut(tok, " ")
		}
		body, err := httpGet(t.Context(), "http://"+addr+"/api/state", token)
		if err == nil && strings.Contains(body, `"namespace":"`+ns+`","name":"podinfo"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/state never showed the Canary: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body, err := httpGet(t.Context(), "http://"+addr+"/api/state", "wrong"); err != nil || strings.Contains(body, "podinfo") {
		t.Errorf("/api/state without the printed token: %v %s", err, body)
	}
}

// httpGet gets url with the dashboard's token.
func httpGet(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestDashboardFlags checks the cluster flags are refused where they mean
// nothing.
func TestDashboardFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--prometheus", "http://localhost:9090"}, "--prometheus: served on a cluster only"},
		{[]string{"-n", "test"}, "-n and -A: served on a cluster only"},
		{[]string{"--kubeconfig", "/nonexistent/kubeconfig", "-A"}, "--kubeconfig"},
		{[]string{"--kubeconfig", "/nonexistent/kubeconfig", "--listen", "0.0.0.0:0"}, "listens on loopback only"},
	} {
		args := append([]string{"dashboard", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir()}, tc.args...)
		_, _, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
