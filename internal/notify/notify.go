package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/sendq"
)

// DefaultTimeout bounds one message when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxQueue bounds the messages waiting for one AlertProvider; more are
// dropped, with an error, rather than held in memory behind a receiver
// that does not answer.
const maxQueue = 100

// Severity ranks alerts: the level an event alerts at
// (rollout.Event.Alert), and the lowest an alert receives.
type Severity = rollout.Alert

// The severities, lowest first.
const (
	Info  = rollout.AlertInfo
	Warn  = rollout.AlertWarn
	Error = rollout.AlertError
)

// ParseSeverity reads an alert's severity; empty is info.
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "", "info":
		return Info, nil
	case "warn":
		return Warn, nil
	case "error":
		return Error, nil
	}
	return Info, fmt.Errorf("severity %q: want info, warn or error", s)
}

// SeverityOf returns the severity an event alerts at, and false for the
// events that do not alert (rollout.Event.Alert is NoAlert).
func SeverityOf(e rollout.Event) (Severity, bool) {
	return e.Alert, e.Alert != rollout.NoAlert
}

// ProviderLookup returns the AlertProvider namespace/name.
type ProviderLookup func(ctx context.Context, namespace, name string) (*v1beta1.AlertProvider, error)

// SecretLookup returns the data of the Secret namespace/name.
type SecretLookup func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// Options configure Alerts.
type Options struct {
	// Providers finds AlertProviders; required.
	Providers ProviderLookup
	// Secrets reads the Secrets providers name; needed only by providers
	// with a secretRef.
	Secrets SecretLookup
	// Timeout of one message; DefaultTimeout when zero.
	Timeout time.Duration
	// Now stamps webhook events; time.Now when nil.
	Now func() time.Time
	// OnError receives every failure to send, naming the alert and the
	// provider, from the senders' goroutines (so possibly concurrently);
	// failures are dropped when nil.
	OnError func(error)
	// Global receives the alerts of Canaries without alerts of their
	// own, as Flagger's -slack-url and -msteams-url; nil for none.
	Global *Global
	// ClusterName, when set, names the cluster in every message, as
	// Flagger's -cluster-name.
	ClusterName string
	// Transport returns the transport messages are sent with (a
	// provider's proxy is set on it); a clone of http.DefaultTransport
	// when nil. The local runtime's resolves Kubernetes Service names.
	Transport func() *http.Transport
}

// Global is an alert destination of the controller rather than of an
// AlertProvider: Flagger's -slack-* or -msteams-* flags. As in Flagger, it
// receives every alert, at any severity, of the Canaries whose analysis
// has no alerts of its own.
type Global struct {
	// Type is "slack" or "msteams".
	Type string
	// Address is the incoming webhook URL. With Token and no Address,
	// messages go to Slack's chat.postMessage API.
	Address string
	// Token is sent as a bearer token (Slack's API).
	Token    string
	Proxy    string
	Channel  string
	Username string
}

// SlackPostMessageURL is Slack's API for posting with a token.
const SlackPostMessageURL = "https://slack.com/api/chat.postMessage"

// Alerts sends events to AlertProviders. It is safe for concurrent use.
//
// Notify returns at once: messages are sent in the background, in order
// for each AlertProvider, so that a receiver that is slow or down never
// holds a release's tick.
type Alerts struct {
	opts   Options
	queues *sendq.Queues // by AlertProvider

	mu      sync.Mutex
	clients map[string]*http.Client // by proxy URL, "" for none
}

var _ engine.Notifier = (*Alerts)(nil)

// New returns an Alerts notifier.
func New(opts Options) *Alerts {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Alerts{opts: opts, clients: map[string]*http.Client{}, queues: sendq.New(maxQueue)}
}

// Notify implements engine.Notifier: it queues an event that alerts for
// each alert of the Canary whose severity it reaches and returns. Events
// that do not alert are not sent.
func (a *Alerts) Notify(ctx context.Context, c *v1beta1.Canary, e rollout.Event) {
	sev, alerts := SeverityOf(e)
	if !alerts {
		return
	}
	// The tick's context ends with the tick; a message has its own timeout.
	ctx = context.WithoutCancel(ctx)
	c = c.DeepCopy()
	if c.Spec.Analysis == nil || len(c.Spec.Analysis.Alerts) == 0 {
		if g := a.opts.Global; g != nil {
			global := v1beta1.CanaryAlert{Name: "global " + g.Type}
			a.enqueue(c, global, "global/"+g.Type, func() {
				if err := a.sendGlobal(ctx, c, g, e, sev); err != nil {
					a.fail(c, global, err)
				}
			})
		}
		return
	}
	for _, alert := range c.Spec.Analysis.Alerts {
		floor, err := ParseSeverity(alert.Severity)
		if err != nil {
			a.fail(c, alert, err)
			continue
		}
		if sev < floor {
			continue
		}
		ns := alert.ProviderRef.Namespace
		if ns == "" {
			ns = c.Namespace
		}
		a.enqueue(c, alert, ns+"/"+alert.ProviderRef.Name, func() {
			if err := a.send(ctx, c, alert, e, sev); err != nil {
				a.fail(c, alert, err)
			}
		})
	}
}

// Flush waits until the messages queued by earlier Notify calls are sent
// or have failed.
func (a *Alerts) Flush() { a.queues.Flush() }

// Drain implements engine.Drainer: it waits, until ctx ends, for the
// messages queued so far.
func (a *Alerts) Drain(ctx context.Context) error {
	if err := a.queues.Drain(ctx); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	return nil
}

func (a *Alerts) fail(c *v1beta1.Canary, alert v1beta1.CanaryAlert, err error) {
	if a.opts.OnError != nil {
		a.opts.OnError(fmt.Errorf("alert %s of canary %s/%s: %w", alert.Name, c.Namespace, c.Name, err))
	}
}

// enqueue queues send for the AlertProvider ref.
func (a *Alerts) enqueue(c *v1beta1.Canary, alert v1beta1.CanaryAlert, ref string, send func()) {
	if !a.queues.Enqueue(ref, send) {
		a.fail(c, alert, fmt.Errorf("AlertProvider %s: %d messages waiting, message dropped", ref, a.queues.Max()))
	}
}

func (a *Alerts) send(ctx context.Context, c *v1beta1.Canary, alert v1beta1.CanaryAlert, e rollout.Event, sev Severity) error {
	ns := alert.ProviderRef.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	ref := ns + "/" + alert.ProviderRef.Name
	if a.opts.Providers == nil {
		return fmt.Errorf("AlertProvider %s: no provider store", ref)
	}
	p, err := a.opts.Providers(ctx, ns, alert.ProviderRef.Name)
	if err != nil {
		return fmt.Errorf("get AlertProvider %s: %w", ref, err)
	}
	addr, proxy := p.Spec.Address, p.Spec.Proxy
	if p.Spec.SecretRef != nil {
		if a.opts.Secrets == nil {
			return fmt.Errorf("AlertProvider %s: secret %s/%s: no secret store", ref, ns, p.Spec.SecretRef.Name)
		}
		data, err := a.opts.Secrets(ctx, ns, p.Spec.SecretRef.Name)
		if err != nil {
			return fmt.Errorf("AlertProvider %s: get secret %s/%s: %w", ref, ns, p.Spec.SecretRef.Name, err)
		}
		if v := string(data["address"]); v != "" {
			addr = v
		}
		if v := string(data["proxy"]); v != "" {
			proxy = v
		}
	}
	if addr == "" {
		return fmt.Errorf("AlertProvider %s: no address", ref)
	}
	body, target, err := a.message(c, p, e, sev, addr)
	if err != nil {
		return fmt.Errorf("AlertProvider %s: %w", ref, err)
	}
	client, err := a.client(proxy)
	if err != nil {
		return fmt.Errorf("AlertProvider %s: %w", ref, err)
	}
	if err := a.post(ctx, client, target, "", body); err != nil {
		return fmt.Errorf("AlertProvider %s (%s): %w", ref, p.Spec.Type, err)
	}
	return nil
}

// sendGlobal posts e to the controller's own destination g.
func (a *Alerts) sendGlobal(ctx context.Context, c *v1beta1.Canary, g *Global, e rollout.Event, sev Severity) error {
	addr := g.Address
	if addr == "" && g.Token != "" {
		addr = SlackPostMessageURL
	}
	p := &v1beta1.AlertProvider{Spec: v1beta1.AlertProviderSpec{Type: g.Type, Channel: g.Channel, Username: g.Username}}
	body, target, err := a.message(c, p, e, sev, addr)
	if err != nil {
		return err
	}
	client, err := a.client(g.Proxy)
	if err != nil {
		return err
	}
	return a.post(ctx, client, target, g.Token, body)
}

// message builds the body for provider p and the URL to post it to.
func (a *Alerts) message(c *v1beta1.Canary, p *v1beta1.AlertProvider, e rollout.Event, sev Severity, addr string) ([]byte, string, error) {
	subject := c.Name + "." + c.Namespace
	if a.opts.ClusterName != "" {
		subject += " (cluster " + a.opts.ClusterName + ")"
	}
	var v any
	switch p.Spec.Type {
	case "slack", "rocket", "discord":
		if p.Spec.Type == "discord" && !strings.HasSuffix(addr, "/slack") {
			addr = strings.TrimSuffix(addr, "/") + "/slack"
		}
		v = slackMessage(c, p, e, sev, subject, a.opts.ClusterName)
	case "webhook":
		v = Event{
			Name: c.Name, Namespace: c.Namespace, Phase: c.Status.Phase,
			Type: e.Type, Reason: e.Reason, Message: e.Message,
			Severity: sev.String(), Timestamp: a.opts.Now().UTC(),
			Cluster: a.opts.ClusterName,
		}
	default: // gchat, msteams and any other
		v = textMessage{Text: fmt.Sprintf("%s %s: %s", sevIcon(sev), subject, e.Message)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("encode message: %w", err)
	}
	return b, addr, nil
}

func (a *Alerts) client(proxy string) (*http.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[proxy]; ok {
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if a.opts.Transport != nil {
		tr = a.opts.Transport()
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("proxy %q is not a URL", proxy)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	c := &http.Client{Transport: tr}
	a.clients[proxy] = c
	return c, nil
}

// post sends body to addr, with token as a bearer token when set; a
// token-authenticated post must also answer "ok": true, as Slack's API
// does.
func (a *Alerts) post(ctx context.Context, client *http.Client, addr, token string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post: status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if token != "" {
		var answer struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &answer); err != nil || !answer.OK {
			return fmt.Errorf("post: not ok: %s", strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// Multi sends each event to every notifier, in order.
type Multi []engine.Notifier

var (
	_ engine.Notifier = Multi(nil)
	_ engine.Drainer  = Multi(nil)
	_ engine.Drainer  = (*Alerts)(nil)
)

// Notify implements engine.Notifier.
func (m Multi) Notify(ctx context.Context, c *v1beta1.Canary, e rollout.Event) {
	for _, n := range m {
		n.Notify(ctx, c, e)
	}
}

// Drain drains every notifier that is an engine.Drainer, at once, until
// ctx ends.
func (m Multi) Drain(ctx context.Context) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, n := range m {
		if d, ok := n.(engine.Drainer); ok {
			wg.Go(func() { errs[i] = d.Drain(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Nop drops every event.
type Nop struct{}

var _ engine.Notifier = Nop{}

// Notify implements engine.Notifier.
func (Nop) Notify(context.Context, *v1beta1.Canary, rollout.Event) {}
