// Package notify sends a Canary's events to the AlertProviders its
// analysis.alerts name.
//
// Alerts implements engine.Notifier. For each alert of the Canary whose
// severity the event reaches, it looks the provider up (in the alert's
// providerRef namespace, or the Canary's) and posts:
//
//   - slack, rocket and discord: a Slack-compatible message, with the
//     event as an attachment coloured by severity (discord through its
//     Slack-compatible endpoint, the address with "/slack" appended);
//   - gchat and msteams: {"text": "..."}, the form both accept;
//   - webhook: the event as JSON (see Event);
//   - any other type: {"text": "..."}.
//
// An event's severity is info for Normal events, warn for Warning events,
// and error for Warning events whose reason speaks of a failure, a
// rollback or an abort. An alert's severity (info by default) is the
// lowest it receives. A provider's address may come from its Secret's
// "address" key, and its proxy from "proxy", as in Flagger.
//
// A Canary without alerts sends the events that announce a release
// (Initialized, NewRevision, Succeeded, Failed) to Options.Global when set:
// the controller's own Slack or Microsoft Teams destination, Flagger's
// -slack-url and -msteams-url. Options.ClusterName names the cluster in
// every message (Flagger's -cluster-name).
//
// Sending never blocks the rollout: Notify queues the messages and returns,
// and a sender per AlertProvider (and one for the global destination)
// posts them in order, each within a timeout (a queue that grows past 100
// messages drops the next ones). A failure is handed to Options.OnError for
// the runtime to log; Flush waits for the messages queued so far. Multi
// fans one event out to several notifiers; Nop drops it.
package notify
