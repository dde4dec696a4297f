package cli

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

// TestDemoObjects: the demo runs the loadtester and the Canary with its
// webhooks only with --with-loadtester, their load on podinfo's port.
func TestDemoObjects(t *testing.T) {
	for _, with := range []bool{false, true} {
		objs, err := demoObjects(demoOptions{withLoadtester: with, podinfoPort: 19898, frontendPort: 18080, scenario: "default"})
		if err != nil {
			t.Fatal(err)
		}
		loadtester, canaries := false, 0
		var hooks []v1beta1.CanaryWebhook
		for _, o := range objs {
			switch v := o.(type) {
			case *appsv1.Deployment:
				loadtester = loadtester || v.Name == demoLoadtester
			case *v1beta1.Canary:
				canaries++
				if v.Spec.Analysis != nil {
					hooks = v.Spec.Analysis.Webhooks
				}
			}
		}
		if loadtester != with || canaries != 1 || (len(hooks) > 0) != with {
			t.Errorf("with-loadtester=%v: loadtester %v, %d canaries, %d webhooks", with, loadtester, canaries, len(hooks))
		}
		for _, h := range hooks {
			if cmd := h.Metadata["cmd"]; cmd != "" && !strings.Contains(cmd, "podinfo-canary.test:19898/") {
				t.Errorf("webhook %s loads %q, want podinfo-canary.test on port 19898", h.Name, cmd)
			}
		}
	}
}
