// Package notify sends a Canary's events to the AlertProviders its
// analysis.alerts name.
//
// Alerts implements engine.Notifier. It sends the events that alert
// (rollout.Event.Alert), the ones Flagger alerts on: initialization done,
// a new revision, a wait for approval (unless its webhook has muteAlert),
// promotion finished, and one per rollback. Steps, checks and the other
// events are recorded and go to event webhooks, not to alerts. For each
// alert of the Canary whose severity the event reaches, it looks the
// provider up (in the alert's providerRef namespace, or the Canary's) and
// posts:
//
//   - slack, rocket and discord: a Slack-compatible message, with the
//     event as an attachment coloured by severity (discord through its
//     Slack-compatible endpoint, the address with "/slack" appended);
//   - gchat and msteams: {"text": "..."}, the form both accept;
//   - webhook: the event as JSON (see Event);
//   - any other type: {"text": "..."}.
//
// Starts and promotions alert at info, waits for approval at warn,
// rollbacks and aborts at error. An alert's severity (info by default) is
// the lowest it receives. A provider's address may come from its Secret's
// "address" key, and its proxy from "proxy", as in Flagger.
//
// A Canary without alerts sends its alerts to Options.Global when set:
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
