// Package demo holds the programs of serin's demo, run as subcommands of the
// serin binary so that the demo needs nothing else installed:
//
//   - Podinfo, an HTTP service compatible with podinfo's API (the service the
//     walkthrough releases), whose version follows its container image;
//   - Load, an open-loop load generator that keeps a constant request rate
//     however slow the responses are, and reports each interval (or, with
//     no rate, a closed loop; with Requests, a fixed number of requests),
//     which serin loadtester also runs for hey commands;
//   - Frontend, a reverse proxy in front of podinfo, like the walkthrough's
//     nginx;
//   - View, the live view and the summary that `serin demo` prints.
package demo
