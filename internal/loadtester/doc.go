// Package loadtester serves Flagger's loadtester API, so that Canaries
// written for flagger-loadtester run unchanged against `serin loadtester`.
//
// Tasks: POST / (any path) with a webhook payload
//
//	{"name": "podinfo", "namespace": "test", "phase": "Progressing",
//	 "checksum": "...", "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}}
//
// runs the task in metadata. type "cmd" (the default) whose command is hey
// runs serin's own load generator (internal/demo) with hey's flags, read
// by a shell-word splitter and Go's flag package as hey reads them; no hey
// binary is needed. Other commands, and types bash, helm and helmv3, run
// only when the operator allows them (Options.AllowExec, or
// Options.AllowCommands by command name), since anyone who can reach the
// loadtester could otherwise run anything in its pod. Other types
// (concord, ngrinder) are refused.
//
// A task blocks: it is answered 200 when it succeeded (hey: at least one
// request answered; a command: exit status 0) and 500 with the reason
// otherwise; 400 for a payload or command line that cannot run, 403 for a
// command not allowed. A call marked as a rollout webhook (the
// X-Serin-Webhook-Type header serin's webhook caller sends) runs in the
// background instead and is answered 202 at once, with one run of a
// command per Canary at a time, as Flagger's loadtester does; callers
// that send no type (curl, Flagger itself) get the blocking behaviour.
// metadata logCmdOutput logs a command's output, returnCmdOutput answers
// with it.
//
// Gates: /gate/approve answers 200 and /gate/halt 403 to anything;
// /gate/check and /rollback/check answer 200 when the gate of the
// payload's name.namespace is open and 403 when it is closed, as every
// gate is at start; /gate/open|close and /rollback/open|close set it (202).
//
// Options.Dial makes hey's connections: under serin run it resolves
// Kubernetes Service names to the local Services (internal/svcnames), so
// hey http://podinfo-canary.test:9898/ reaches the canary's pods.
//
// /healthz answers 200; /metrics serves the registry passed in. With
// Options.Token, task and gate requests must carry the token as a bearer
// token or as basic auth's password; /healthz and /metrics stay open.
package loadtester
