package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/hooks"
	"github.com/serinhq/serin/internal/testenv"
)

// received is a request testdata/receiver recorded.
type received struct {
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// startServer starts a server process (serin loadtester or the receiver)
// and returns its URL once /healthz or /_requests answers.
func startServer(t *testing.T, bin, probe string, args ...string) (string, *process) {
	t.Helper()
	addr := freeAddr(t)
	p := startProcess(t, bin, append(args, "--addr", addr)...)
	url := "http://" + addr
	testenv.Eventually(t, 20*time.Second, filepath.Base(bin)+" to listen", func(ctx context.Context) (bool, error) {
		code, _, err := httpGet(ctx, url+probe)
		return code == http.StatusOK, err
	})
	return url, p
}

// startReceiverProcess builds and starts test/e2e/testdata/receiver and returns
// its URL.
func startReceiverProcess(t *testing.T) string {
	t.Helper()
	url, _ := startServer(t, goBuild(t, "./test/e2e/testdata/receiver", "receiver"), "/_requests")
	return url
}

// requests returns what the receiver at url got on paths under prefix.
func requests(ctx context.Context, url, prefix string) ([]received, error) {
	_, body, err := httpGet(ctx, url+"/_requests")
	if err != nil {
		return nil, err
	}
	var all, out []received
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		return nil, err
	}
	for _, r := range all {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out, nil
}

// openGate opens a loadtester's gate for Canary ns/podinfo.
func openGate(t *testing.T, url, ns string) {
	t.Helper()
	setGate(t, url, "/gate/open", ns)
}

// setGate posts Canary ns/podinfo's payload to a loadtester's gate
// endpoint path (/gate/open, /rollback/open, ...).
func setGate(t *testing.T, url, path, ns string) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(fmt.Sprintf(`{"name":"podinfo","namespace":%q}`, ns)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s: %s", path, resp.Status)
	}
}

// gateChecks counts the checks of gate ("gate" or "rollback") of Canary
// ns/podinfo a loadtester answered open or closed.
func gateChecks(p *process, gate, ns string, open bool) int {
	return strings.Count(p.out.String(), fmt.Sprintf(`"msg":"gate checked","gate":%q,"canary":"podinfo.%s","open":%t`, gate, ns, open))
}

// closedChecks counts the checks of the gate of Canary hooks/podinfo a
// loadtester answered closed.
func closedChecks(p *process) int { return gateChecks(p, "gate", "hooks", false) }

// TestKubernetesWebhooksAndAlerts runs the walkthrough's release on the
// test cluster with its webhooks served by real `serin loadtester`
// processes and its events received by a receiver process, directly and
// through a Slack AlertProvider whose address is in a Secret.
func TestKubernetesWebhooksAndAlerts(t *testing.T) {
	cluster := startCluster(t)
	bin := buildSerin(t)
	recv := startReceiverProcess(t)
	startLT, startP := startServer(t, bin, "/healthz", "loadtester")
	promoLT, promoP := startServer(t, bin, "/healthz", "loadtester")

	e := setup(t, cluster, "hooks", false)
	ctx := t.Context()
	secret := &corev1.Secret{ObjectMeta: objectMeta(e.ns, "slack-url"),
		StringData: map[string]string{"address": recv + "/secret-slack/T0/B0"}}
	provider := &v1beta1.AlertProvider{ObjectMeta: objectMeta(e.ns, "on-call"), Spec: v1beta1.AlertProviderSpec{
		Type: "slack", Channel: "releases", Address: "http://not-this.invalid/",
		SecretRef: &v1beta1.LocalSecretReference{Name: "slack-url"},
	}}
	for _, o := range []client.Object{secret, provider} {
		if err := e.cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	c := release(t, e.ns, "")
	c.Spec.Analysis.StepWeight = 25
	c.Spec.Analysis.MaxWeight = 50
	c.Spec.Analysis.Webhooks = []v1beta1.CanaryWebhook{
		{Name: "start-gate", Type: v1beta1.ConfirmRolloutHook, URL: startLT + "/gate/check"},
		{Name: "acceptance", Type: v1beta1.PreRolloutHook, URL: startLT + "/", Timeout: "30s",
			Metadata: map[string]string{"cmd": "hey -n 4 -c 2 " + recv + "/acceptance"}},
		{Name: "load", URL: startLT + "/", Metadata: map[string]string{"cmd": "hey -z 1m -q 2 -c 1 " + recv + "/load"}},
		{Name: "promotion-gate", Type: v1beta1.ConfirmPromotionHook, URL: promoLT + "/gate/check"},
		{Name: "notify", Type: v1beta1.PostRolloutHook, URL: startLT + "/", Metadata: map[string]string{"cmd": "hey -n 1 -c 1 " + recv + "/post-rollout"}},
		{Name: "events", Type: v1beta1.EventHook, URL: recv + "/events"},
	}
	c.Spec.Analysis.Alerts = []v1beta1.CanaryAlert{{Name: "on-call", ProviderRef: v1beta1.CrossNamespaceObjectReference{Name: "on-call"}}}
	e.initialize(t, c)

	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseWaiting, time.Minute, v1beta1.PhaseFailed)
	n := closedChecks(startP)
	testenv.Eventually(t, time.Minute, "two more closed start gate checks", func(context.Context) (bool, error) { return closedChecks(startP) >= n+2, nil })
	if got, err := getCanary(ctx, e.cl, e.ns, "podinfo"); err != nil || got.Status.Phase != v1beta1.PhaseWaiting {
		t.Fatalf("while the start gate is closed: %v %v, want Waiting", got.Status.Phase, err)
	}
	openGate(t, startLT, e.ns)

	waitWeight(t, e, 50)
	n = closedChecks(promoP)
	testenv.Eventually(t, time.Minute, "two more closed promotion gate checks", func(context.Context) (bool, error) { return closedChecks(promoP) >= n+2, nil })
	if got, err := getCanary(ctx, e.cl, e.ns, "podinfo"); err != nil || got.Status.CanaryWeight != 50 ||
		(got.Status.Phase != v1beta1.PhaseProgressing && got.Status.Phase != v1beta1.PhaseWaitingPromotion) {
		t.Fatalf("while the promotion gate is closed: %+v %v, want held at weight 50", got.Status, err)
	}
	openGate(t, promoLT, e.ns)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 2*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)

	out := startP.out.String()
	if n := strings.Count(out, `"msg":"task starting","canary":"podinfo.hooks","cmd":"hey`); n != 3 {
		t.Errorf("loadtester started %d tasks, want the acceptance test, the load and post-rollout once each", n)
	}
	for _, cmd := range []string{"/acceptance", "/load", "/post-rollout"} {
		testenv.Eventually(t, 30*time.Second, "requests to "+cmd, func(ctx context.Context) (bool, error) {
			rs, err := requests(ctx, recv, cmd)
			return len(rs) > 0, err
		})
	}
	if !strings.Contains(out, `"msg":"task already running"`) {
		t.Error("the rollout hook's load was not de-duplicated across ticks")
	}
	testenv.Eventually(t, 30*time.Second, "events and alerts", func(ctx context.Context) (bool, error) {
		evs, err := requests(ctx, recv, "/events")
		if err != nil {
			return false, err
		}
		alerts, err := requests(ctx, recv, "/secret-slack/T0/B0")
		if err != nil {
			return false, err
		}
		promoted := func(rs []received) bool {
			for _, r := range rs {
				if strings.Contains(r.Body, "Promotion completed") {
					return true
				}
			}
			return false
		}
		return promoted(evs) && promoted(alerts), nil
	})
	evs, _ := requests(ctx, recv, "/events")
	for _, r := range evs {
		var p hooks.Payload
		if err := json.Unmarshal([]byte(r.Body), &p); err != nil || p.Name != "podinfo" || p.Namespace != e.ns ||
			p.Metadata["eventMessage"] == "" || r.Header.Get(hooks.TypeHeader) != "event" {
			t.Errorf("event payload %s (%v)", r.Body, err)
		}
	}
	alerts, _ := requests(ctx, recv, "/secret-slack/T0/B0")
	for _, r := range alerts {
		var m struct {
			Channel     string `json:"channel"`
			Attachments []struct {
				AuthorName string `json:"author_name"`
				Color      string `json:"color"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || m.Channel != "releases" || len(m.Attachments) != 1 ||
			m.Attachments[0].AuthorName != "podinfo."+e.ns {
			t.Errorf("Slack alert at the Secret's address: %s (%v)", r.Body, err)
		}
	}
	t.Logf("%d events and %d alerts received", len(evs), len(alerts))
}
