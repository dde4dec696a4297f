package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
)

// alertProvider is an AlertProvider manifest; extra is YAML indented by
// two spaces under spec.
func alertProvider(name, typ, extra string) string {
	return fmt.Sprintf(`---
apiVersion: serin.dev/v1beta1
kind: AlertProvider
metadata:
  name: %s
  namespace: test
spec:
  type: %s
%s`, name, typ, extra)
}

// slackMessage is Slack's incoming-webhook message, which Rocket.Chat and
// Discord's /slack endpoint take too.
type slackMessage struct {
	Channel     string `json:"channel"`
	Username    string `json:"username"`
	Attachments []struct {
		Fallback   string   `json:"fallback"`
		Color      string   `json:"color"`
		AuthorName string   `json:"author_name"`
		Text       string   `json:"text"`
		MrkdwnIn   []string `json:"mrkdwn_in"`
		Fields     []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
}

// TestAlerts runs a release that waits for approval and is rolled back
// under serin run, with its alerts sent to an AlertProvider of every type,
// all received by a real receiver process. As in Flagger, a release alerts
// at its start, its wait for approval and its end, once each: the steps,
// the failed checks and the first of the rollback's two events are
// recorded, not sent. Each provider gets its documented payload, each
// alert only what reaches its severity, a provider with a proxy sends
// through it, and a receiver that is down or hangs does not slow the
// release.
func TestAlerts(t *testing.T) {
	bin := serin(t)
	recv := startReceiver(t)
	gate, _ := startLoadtester(t, bin)
	port, down := freePort(t), freePort(t)
	providers := strings.Join([]string{
		alertProvider("slack", "slack", fmt.Sprintf("  channel: releases\n  username: serin\n  address: %s/slack/T0/B0\n", recv.URL)),
		alertProvider("msteams", "msteams", fmt.Sprintf("  address: %s/msteams/webhookb2\n", recv.URL)),
		alertProvider("discord", "discord", fmt.Sprintf("  address: %s/discord/api/webhooks/1/x\n", recv.URL)),
		alertProvider("rocket", "rocket", fmt.Sprintf("  address: %s/rocket/hooks/x\n", recv.URL)),
		alertProvider("gchat", "gchat", fmt.Sprintf("  address: %s/gchat/v1/spaces/x/messages\n", recv.URL)),
		alertProvider("generic", "webhook", fmt.Sprintf("  address: %s/generic\n", recv.URL)),
		alertProvider("proxied", "gchat", fmt.Sprintf("  address: http://chat.example.invalid/v1/spaces/y/messages\n  proxy: %s\n", recv.URL)),
		alertProvider("down", "slack", fmt.Sprintf("  address: http://127.0.0.1:%d/services/x\n", down)),
		alertProvider("slow", "webhook", fmt.Sprintf("  address: %s/hang\n", recv.URL)),
	}, "")
	analysis := fmt.Sprintf(`    interval: 1s
    threshold: 2
    stepWeight: 20
    webhooks:
      - name: approval
        type: confirm-rollout
        url: %s/gate/check
      - name: smoke
        type: rollout
        url: %s/status/500
    alerts:
      - name: all
        providerRef:
          name: slack
      - name: teams-warnings
        severity: warn
        providerRef:
          name: msteams
      - name: discord
        providerRef:
          name: discord
      - name: rocket
        providerRef:
          name: rocket
      - name: gchat
        providerRef:
          name: gchat
          namespace: test
      - name: errors-only
        severity: error
        providerRef:
          name: generic
      - name: through-proxy
        providerRef:
          name: proxied
      - name: receiver-down
        providerRef:
          name: down
      - name: receiver-hangs
        providerRef:
          name: slow
`, gate, recv.URL)
	state := releasePodinfo(t, bin, port, analysis, providers)
	waitPhase(t, state, "podinfo", v1beta1.PhaseWaiting, 30*time.Second)
	openGate(t, gate, "/gate/open")
	// Two failed checks at 1s intervals: were a message to the hanging
	// receiver waited for (10s each), the rollback would take minutes.
	waitPhase(t, state, "podinfo", v1beta1.PhaseFailed, 30*time.Second)

	var fail []string
	warnings := 0
	for _, e := range canaryEvents(t, state, "podinfo") {
		switch {
		case e.Type == "Warning" && e.Reason == "Failed":
			fail = append(fail, e.Message)
		case e.Type == "Warning":
			warnings++
		}
	}
	// Recorded: the failed checks and both rollback events.
	if len(fail) != 2 || warnings == 0 {
		t.Fatalf("want failed checks and two rollback events among the events: %+v", canaryEvents(t, state, "podinfo"))
	}
	last := fail[len(fail)-1]
	waitFor(t, 20*time.Second, "the rollback at every receiver", func() bool {
		for _, p := range []string{"/slack/", "/msteams/", "/discord/", "/rocket/", "/gchat/", "/generic"} {
			found := false
			for _, r := range recv.requests(t, p) {
				found = found || strings.Contains(r.Body, last)
			}
			if !found {
				return false
			}
		}
		return true
	})

	// Slack, Rocket.Chat and Discord's Slack endpoint: one message per
	// alert, with the event as an attachment coloured by severity:
	// initialized, waiting for approval, new revision, rolled back.
	for _, p := range []string{"/slack/T0/B0", "/rocket/hooks/x", "/discord/api/webhooks/1/x/slack"} {
		var got []string
		for _, r := range recv.requests(t, p) {
			var m slackMessage
			if err := json.Unmarshal([]byte(r.Body), &m); err != nil || len(m.Attachments) != 1 {
				t.Fatalf("%s: not a Slack message with one attachment: %s", p, r.Body)
			}
			a := m.Attachments[0]
			if a.AuthorName != "podinfo.test" || a.Text == "" || !strings.Contains(a.Fallback, a.Text) ||
				len(a.Fields) == 0 || a.Fields[0].Title != "Target" || a.Fields[0].Value != "Deployment/podinfo" {
				t.Errorf("%s: attachment = %+v", p, a)
			}
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: Content-Type %q", p, r.Header.Get("Content-Type"))
			}
			if p == "/slack/T0/B0" && (m.Channel != "releases" || m.Username != "serin") {
				t.Errorf("slack: channel %q username %q, want the provider's", m.Channel, m.Username)
			}
			got = append(got, a.Color+" "+a.Text)
		}
		want := []string{"good Initialization done!", "warning Waiting for approval", "good New revision detected!", "danger " + last}
		if len(got) != len(want) {
			t.Fatalf("%s got %d messages, want %d, one per alert:\n%s", p, len(got), len(want), strings.Join(got, "\n"))
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("%s message %d = %q, want %q...", p, i, got[i], want[i])
			}
		}
	}

	// Google Chat: {"text": ...}, every alert.
	for _, r := range recv.requests(t, "/gchat/") {
		var m map[string]string
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || len(m) != 1 || !strings.Contains(m["text"], "podinfo.test: ") {
			t.Errorf("gchat: want {\"text\": ...}, got %s", r.Body)
		}
	}
	// Teams with severity warn: the wait for approval and the rollback.
	var teams []string
	for _, r := range recv.requests(t, "/msteams/") {
		var m map[string]string
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || len(m) != 1 {
			t.Errorf("msteams: want {\"text\": ...}, got %s", r.Body)
		}
		teams = append(teams, m["text"])
	}
	if len(teams) != 2 || !strings.HasPrefix(teams[0], "[warn] podinfo.test: Waiting for approval") ||
		teams[1] != "[error] podinfo.test: "+last {
		t.Errorf("msteams (severity warn) got %q, want the wait and the rollback", teams)
	}
	// The generic webhook with severity error: the rollback, once, as
	// serin's Event.
	generic := recv.requests(t, "/generic")
	if len(generic) != 1 {
		t.Errorf("generic (severity error) got %d messages, want the rollback once", len(generic))
	}
	for _, r := range generic {
		var e struct {
			Name, Namespace, Phase, Type, Reason, Message, Severity string
			Timestamp                                               time.Time
		}
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
			t.Fatalf("generic: %v: %s", err, r.Body)
		}
		if e.Severity != "error" || e.Name != "podinfo" || e.Namespace != "test" || e.Type != "Warning" ||
			e.Reason != "Failed" || e.Phase == "" || e.Timestamp.IsZero() {
			t.Errorf("generic (severity error) got %+v", e)
		}
	}
	// The proxied provider's messages went to its proxy, for its address.
	proxied := recv.requests(t, "/v1/spaces/y/messages")
	if len(proxied) == 0 {
		t.Error("no message through the proxy")
	}
	for _, r := range proxied {
		if !r.Proxied || r.Host != "chat.example.invalid" {
			t.Errorf("through the proxy: proxied %v host %q, want a proxy request for chat.example.invalid", r.Proxied, r.Host)
		}
	}
	if len(recv.requests(t, "/hang")) == 0 {
		t.Error("the hanging receiver got nothing")
	}
}

// TestAlertsSentBeforeExit stops serin run (SIGINT) right after a
// rollback, while its alerts wait behind a receiver that takes 3s per
// message: serin run sends them before it exits, the rollback's
// included.
func TestAlertsSentBeforeExit(t *testing.T) {
	bin := serin(t)
	recv := startReceiver(t)
	port := freePort(t)
	provider := alertProvider("slow", "webhook", fmt.Sprintf("  address: %s/delay/3s/alerts\n", recv.URL))
	analysis := fmt.Sprintf(`    interval: 1s
    threshold: 2
    stepWeight: 20
    webhooks:
      - name: smoke
        type: rollout
        url: %s/status/500
    alerts:
      - name: slow
        providerRef:
          name: slow
`, recv.URL)
	dir, state := t.TempDir(), t.TempDir()
	app := writeFile(t, dir, "app.yaml", appManifests(port)+provider)
	cn := writeFile(t, dir, "canary.yaml", canaryNamed("podinfo", port, analysis))
	run := start(t, bin, "run", "-f", app, "-f", cn, "--state-dir", state)
	waitPhase(t, state, "podinfo", v1beta1.PhaseInitialized, time.Minute)
	if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod=quay.io/stefanprodan/podinfo:1.7.1"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	waitPhase(t, state, "podinfo", v1beta1.PhaseFailed, 30*time.Second)
	sentBefore := len(recv.requests(t, "/delay/"))
	if err := run.interrupt(t); err != nil {
		t.Fatalf("serin run: %v", err)
	}
	var got []string
	for _, r := range recv.requests(t, "/delay/") {
		var e struct{ Reason, Message, Severity string }
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
			t.Fatalf("alert: %v: %s", err, r.Body)
		}
		got = append(got, e.Severity+" "+e.Message)
	}
	want := []string{"info Initialization done!", "info New revision detected!", "error Canary failed!"}
	if len(got) != len(want) {
		t.Fatalf("the receiver got %d alerts, want %d (%d of them before the interrupt):\n%s", len(got), len(want), sentBefore, strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("alert %d = %q, want %q...", i, got[i], want[i])
		}
	}
	t.Logf("%d of %d alerts were sent before the interrupt", sentBefore, len(got))
}
