package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

// TestControllerDashboard starts the controller with --dashboard-addr on
// a real API server with RBAC and checks that its dashboard answers no
// data without a Kubernetes token, and the Canaries with a viewer's.
func TestControllerDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}, RBAC: true, ControlPlaneOnly: true})
	cl := c.Client()
	ns := c.CreateNamespace(t, "test")
	for _, o := range []client.Object{
		&v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"}, Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50},
		}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"serin.dev"}, Resources: []string{"canaries"}, Verbs: []string{"get", "list", "watch"}},
		}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "viewer"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "viewer"}},
		},
	} {
		if err := cl.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), "viewer",
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	mgr, err := NewManager(c.RESTConfig(), Options{
		Registry: prometheus.NewRegistry(), DashboardAddr: addr, SkipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, mgr)

	get := func(token string) (int, string, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/api/state", nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	poll(t, 30*time.Second, "the viewer's /api/state with the Canary", func(context.Context) (bool, error) {
		code, body, err := get(tr.Status.Token)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%d %s", code, body)
		}
		return err == nil && strings.Contains(body, `"name":"podinfo"`), err
	})
	for _, token := range []string{"", "not-a-token"} {
		code, body, err := get(token)
		if err != nil || code != http.StatusUnauthorized || strings.Contains(body, "podinfo") {
			t.Errorf("/api/state with token %q: %d %s %v; want 401 and no data", token, code, body, err)
		}
	}
}

// runManager runs mgr until the test ends.
func runManager(t *testing.T, mgr ctrl.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}
