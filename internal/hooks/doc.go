// Package hooks calls a Canary's webhooks over HTTP, as Flagger does.
//
// Caller implements engine.Hooks: for one gate it POSTs, in spec order, to
// every webhook of that type (a webhook without a type is a "rollout" hook)
// the JSON payload
//
//	{"name": "podinfo", "namespace": "test", "phase": "Progressing",
//	 "checksum": "<revision>", "metadata": {...}}
//
// Each call carries the webhook's type in the X-Serin-Webhook-Type header
// (TypeHeader), which Flagger's receivers ignore and serin's loadtester
// reads to run rollout tasks in the background.
//
// A reply of 200, 201 or 202 is OK; any other status, a transport error or
// a timeout (the webhook's timeout, 10s by default, per attempt) is not,
// with a message naming the webhook, its URL and what went wrong. Transport
// errors, 429 and 5xx replies are retried up to the webhook's retries with
// a short backoff; other statuses are answers and are not retried.
//
// What OK means is the rollout's business: a confirm-* gate opens, a
// pre-rollout check passes, a rollback hook asks for a rollback.
//
// Caller also implements engine.Notifier for "event" webhooks: each event
// is posted with metadata eventMessage, eventType and timestamp (Unix
// milliseconds) added, as Flagger's event hooks receive them. A Canary
// without event webhooks sends its events to Options.EventWebhook when set
// (Flagger's -event-webhook).
package hooks
