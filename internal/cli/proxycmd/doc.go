// Package proxycmd is the command that runs serin's proxy standalone. It
// lives apart from package cli so that a data-plane binary can be built
// from it without the control plane's dependencies (the Kubernetes client
// libraries and their package initialisation). admin.go sets up the
// admin API's listener (loopback, a unix socket, or a warning) and its
// token (given, read from a file, or generated into a private file).
package proxycmd
