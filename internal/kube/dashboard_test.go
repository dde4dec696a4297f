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
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/testenv"
)

// TestControllerDashboard starts the controller with --dashboard-addr on
// a real API server with RBAC and checks each request is served as its
// caller: no data without a Kubernetes token; a viewer ServiceAccount
// allowed to list canaries in one namespace sees that namespace's Canary
// and not another's, and may not command it; an operator allowed to patch
// it promotes it.
func TestControllerDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a cluster")
	}
	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}, RBAC: true, ControlPlaneOnly: true})
	cl := c.Client()
	ns, other := c.CreateNamespace(t, "test"), c.CreateNamespace(t, "other")
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := cl.Create(t.Context(), o); err != nil {
				t.Fatalf("create %T: %v", o, err)
			}
		}
	}
	for _, n := range []string{ns, other} {
		create(&v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "podinfo"}, Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "10s", Threshold: 5, StepWeight: 10, MaxWeight: 50},
		}})
	}
	canaries := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"serin.dev"}, Resources: []string{"canaries"}, Verbs: verbs}
	}
	viewer := c.ServiceAccountToken(t, ns, "viewer", canaries("get", "list", "watch"))
	operator := c.ServiceAccountToken(t, ns, "operator", canaries("get", "list", "watch", "patch"))

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

	do := func(method, path, token string) (int, string, error) {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("{}")
		}
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, body)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
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
	var state string
	testenv.Eventually(t, 30*time.Second, "the viewer's /api/state with its Canary", func(context.Context) (bool, error) {
		code, body, err := do(http.MethodGet, "/api/state", viewer)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%d %s", code, body)
		}
		state = body
		return err == nil && strings.Contains(body, `"namespace":"`+ns+`","name":"podinfo"`), err
	})
	if strings.Contains(state, other) {
		t.Errorf("the viewer sees namespace %s:\n%s", other, state)
	}
	for _, token := range []string{"", "not-a-token"} {
		code, body, err := do(http.MethodGet, "/api/state", token)
		if err != nil || code != http.StatusUnauthorized || strings.Contains(body, "podinfo") {
			t.Errorf("/api/state with token %q: %d %s %v; want 401 and no data", token, code, body, err)
		}
	}

	promote := "/api/canaries/" + ns + "/podinfo/promote"
	if code, body, err := do(http.MethodPost, promote, viewer); err != nil || code != http.StatusForbidden {
		t.Errorf("the viewer's promote: %d %s %v; want 403", code, body, err)
	}
	if code, body, err := do(http.MethodPost, "/api/canaries/"+other+"/podinfo/promote", operator); err != nil || code != http.StatusForbidden {
		t.Errorf("the operator's promote in %s: %d %s %v; want 403", other, code, body, err)
	}
	// The controller consumes the command at once: a watch from before
	// the promote sees the annotation come, whatever happens after.
	wcl, err := client.NewWithWatch(c.RESTConfig(), client.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	list := &v1beta1.CanaryList{}
	if err := cl.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	watch, err := wcl.Watch(wctx, &v1beta1.CanaryList{}, &client.ListOptions{Namespace: ns, Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	if code, body, err := do(http.MethodPost, promote, operator); err != nil || code != http.StatusAccepted {
		t.Fatalf("the operator's promote: %d %s %v; want 202", code, body, err)
	}
	for ev := range watch.ResultChan() {
		if cn, ok := ev.Object.(*v1beta1.Canary); ok && cn.Annotations[CommandAnnotation] == "promote" {
			return
		}
	}
	t.Errorf("the operator's promote never set %s=promote on %s/podinfo", CommandAnnotation, ns)
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
