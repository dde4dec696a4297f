package kube

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/hooks"
	"github.com/serinhq/serin/internal/notify"
)

// GlobalAlerts are the controller's own alert destinations, Flagger's
// global ones: each Canary's events reach them unless it has alerts (or
// event webhooks) of its own.
type GlobalAlerts struct {
	// Chat is the Slack or Microsoft Teams destination; nil for none.
	Chat *notify.Global
	// EventWebhook receives every event as a webhook payload.
	EventWebhook string
	// ClusterName names the cluster in every alert.
	ClusterName string
}

// newHooksAndNotifier returns the webhook caller and the notifier, which
// sends every event to the Canary's event webhooks and to its
// AlertProviders (read through c, in group), or to the global destinations.
func newHooksAndNotifier(c client.Client, o Options, group string) (engine.Hooks, notify.Multi) {
	var hc *http.Client
	if o.Transport != nil {
		hc = &http.Client{Transport: o.Transport()}
	}
	h := hooks.New(hooks.Options{Client: hc, Now: o.Now, EventWebhook: o.Alerts.EventWebhook,
		OnEventError: func(err error) { o.Logger.Warn("event webhook", "err", err) }})
	n := notify.New(notify.Options{
		Providers:   groupProviders(c, group),
		Secrets:     secretLookup(c),
		Now:         o.Now,
		OnError:     func(err error) { o.Logger.Warn("alert not sent", "err", err) },
		Global:      o.Alerts.Chat,
		ClusterName: o.Alerts.ClusterName,
		Transport:   o.Transport,
	})
	return h, notify.Multi{h, n}
}

// secretLookup reads a Secret's data through c.
func secretLookup(c client.Client) func(ctx context.Context, ns, name string) (map[string][]byte, error) {
	return func(ctx context.Context, ns, name string) (map[string][]byte, error) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return nil, err
		}
		return s.Data, nil
	}
}
