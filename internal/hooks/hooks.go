package hooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/sendq"
)

// DefaultTimeout bounds one call of a webhook that sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxBody bounds how much of a reply is read into a message.
const maxBody = 512

// TypeHeader carries the webhook's type (rollout when the spec sets none)
// with each call, so that a receiver such as serin's loadtester can tell a
// rollout hook, whose task runs in the background, from a blocking one.
// Flagger's payload has no type; receivers that do not know the header
// ignore it.
const TypeHeader = "X-Serin-Webhook-Type"

// Payload is the JSON body sent to a webhook (Flagger's).
type Payload struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Phase     v1beta1.CanaryPhase `json:"phase"`
	// Checksum identifies the revision under analysis.
	Checksum string            `json:"checksum"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Options configure a Caller.
type Options struct {
	// Client sends the requests; a new client when nil. Per-call timeouts
	// come from the webhooks, not from the client.
	Client *http.Client
	// Backoff is the wait before the first retry, doubled for each next
	// one up to 16 times its value; 500ms when zero.
	Backoff time.Duration
	// Now stamps event payloads; time.Now when nil.
	Now func() time.Time
	// EventWebhook receives the events of every Canary that has no
	// "event" webhook of its own (Flagger's -event-webhook).
	EventWebhook string
	// OnEventError receives each event that an event webhook did not
	// take (after its retries) or that was dropped, from the senders'
	// goroutines; nil drops them.
	OnEventError func(error)
}

// maxEventQueue bounds the events waiting for one event webhook; more are
// dropped, with an error, rather than held behind a receiver that does
// not answer.
const maxEventQueue = 1000

// Caller calls webhooks. It is safe for concurrent use.
type Caller struct {
	client       *http.Client
	insecureOnce sync.Once
	insecure     *http.Client // for webhooks with disableTLS
	backoff      time.Duration
	now          func() time.Time
	eventWebhook string
	onEventError func(error)
	events       *sendq.Queues // by event webhook URL
}

var (
	_ engine.Hooks    = (*Caller)(nil)
	_ engine.Notifier = (*Caller)(nil)
	_ engine.Drainer  = (*Caller)(nil)
)

// New returns a Caller.
func New(opts Options) *Caller {
	h := &Caller{client: opts.Client, backoff: opts.Backoff, now: opts.Now, eventWebhook: opts.EventWebhook,
		onEventError: opts.OnEventError, events: sendq.New(maxEventQueue)}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.backoff <= 0 {
		h.backoff = 500 * time.Millisecond
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// Webhooks returns the webhooks of c for gate t, in spec order.
func Webhooks(c *v1beta1.Canary, t v1beta1.HookType) []v1beta1.CanaryWebhook {
	if c.Spec.Analysis == nil {
		return nil
	}
	var out []v1beta1.CanaryWebhook
	for _, w := range c.Spec.Analysis.Webhooks {
		wt := w.Type
		if wt == "" {
			wt = v1beta1.RolloutHook
		}
		if wt == t {
			out = append(out, w)
		}
	}
	return out
}

// Call implements engine.Hooks: it calls every webhook of gate t and
// returns one result per webhook.
func (h *Caller) Call(ctx context.Context, c *v1beta1.Canary, t v1beta1.HookType) []rollout.HookResult {
	hooks := Webhooks(c, t)
	results := make([]rollout.HookResult, 0, len(hooks))
	for _, w := range hooks {
		ok, msg := h.call(ctx, w, t, payload(c, w.Metadata))
		results = append(results, rollout.HookResult{Name: w.Name, Type: t, OK: ok, Message: msg})
	}
	return results
}

// Notify implements engine.Notifier for the Canary's "event" webhooks, or,
// when it has none, the Caller's EventWebhook. It queues the calls and
// returns: a sender per webhook URL posts them in order, each with the
// webhook's timeout and retries, so that a receiver that is slow or down
// never holds a release's tick. A call that fails goes to OnEventError.
func (h *Caller) Notify(ctx context.Context, c *v1beta1.Canary, e rollout.Event) {
	hooks := Webhooks(c, v1beta1.EventHook)
	if len(hooks) == 0 && h.eventWebhook != "" {
		hooks = []v1beta1.CanaryWebhook{{Name: "events", URL: h.eventWebhook}}
	}
	// The tick's context ends with the tick; a call has its own timeout.
	ctx = context.WithoutCancel(ctx)
	canary := c.Namespace + "/" + c.Name // the sender must not read c later
	for _, w := range hooks {
		md := make(map[string]string, len(w.Metadata)+3)
		maps.Copy(md, w.Metadata)
		md["eventMessage"] = e.Message
		md["eventType"] = string(e.Type)
		md["timestamp"] = strconv.FormatInt(h.now().UnixMilli(), 10)
		p := payload(c, md)
		queued := h.events.Enqueue(w.URL, func() {
			if ok, msg := h.call(ctx, w, v1beta1.EventHook, p); !ok {
				h.eventError(canary, fmt.Errorf("event not sent: %s", msg))
			}
		})
		if !queued {
			h.eventError(canary, fmt.Errorf("event webhook %s (%s): %d events waiting, event dropped", w.Name, w.URL, h.events.Max()))
		}
	}
}

// Drain implements engine.Drainer: it waits, until ctx ends, for the
// event webhook calls queued so far to be sent or to fail.
func (h *Caller) Drain(ctx context.Context) error {
	if err := h.events.Drain(ctx); err != nil {
		return fmt.Errorf("event webhooks: %w", err)
	}
	return nil
}

func (h *Caller) eventError(canary string, err error) {
	if h.onEventError != nil {
		h.onEventError(fmt.Errorf("canary %s: %w", canary, err))
	}
}

func payload(c *v1beta1.Canary, md map[string]string) Payload {
	return Payload{
		Name:      c.Name,
		Namespace: c.Namespace,
		Phase:     c.Status.Phase,
		Checksum:  c.Status.LastAppliedSpec,
		Metadata:  md,
	}
}

// call posts p to w, with retries, and says whether w answered 200-202.
func (h *Caller) call(ctx context.Context, w v1beta1.CanaryWebhook, t v1beta1.HookType, p Payload) (bool, string) {
	prefix := fmt.Sprintf("webhook %s (%s)", w.Name, w.URL)
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, prefix + ": url must be an absolute http or https URL"
	}
	timeout := DefaultTimeout
	if w.Timeout != "" {
		d, err := time.ParseDuration(w.Timeout)
		if err != nil || d <= 0 {
			return false, fmt.Sprintf("%s: timeout %q is not a positive duration", prefix, w.Timeout)
		}
		timeout = d
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Sprintf("%s: encode payload: %v", prefix, err)
	}
	retries := max(w.Retries, 0)
	var msg string
	for attempt := 0; ; attempt++ {
		var retry bool
		var ok bool
		ok, retry, msg = h.post(ctx, h.clientFor(w), u.String(), t, body, timeout)
		if ok {
			return true, msg
		}
		if !retry || attempt >= retries {
			break
		}
		wait := h.backoff << min(attempt, 4)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, fmt.Sprintf("%s: %s (gave up: %v)", prefix, msg, ctx.Err())
		case <-t.C:
		}
	}
	if retries > 0 {
		return false, fmt.Sprintf("%s: %s (after %d retries)", prefix, msg, retries)
	}
	return false, prefix + ": " + msg
}

// clientFor returns the client that calls w: with disableTLS, as in
// Flagger, one that does not verify the server's certificate.
func (h *Caller) clientFor(w v1beta1.CanaryWebhook) *http.Client {
	if !w.DisableTLS {
		return h.client
	}
	h.insecureOnce.Do(func() {
		var tr *http.Transport
		if t, ok := h.client.Transport.(*http.Transport); ok {
			tr = t.Clone()
		} else {
			tr = http.DefaultTransport.(*http.Transport).Clone()
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for by the webhook's disableTLS
		c := *h.client
		c.Transport = tr
		h.insecure = &c
	})
	return h.insecure
}

// post makes one attempt. It returns whether the webhook answered OK,
// whether a failure is worth a retry, and a message.
func (h *Caller) post(ctx context.Context, client *http.Client, u string, t v1beta1.HookType, body []byte, timeout time.Duration) (ok, retry bool, msg string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, false, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TypeHeader, string(t))
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return false, true, fmt.Sprintf("no reply within %v", timeout)
		}
		return false, true, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	text := strings.TrimSpace(string(b))
	status := "status " + strconv.Itoa(resp.StatusCode)
	if text != "" {
		status += ": " + text
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 202:
		return true, false, status
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return false, true, status
	default:
		return false, false, status
	}
}
