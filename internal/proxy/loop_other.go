//go:build !linux

package proxy

import "context"

// eventLoop is Linux only; elsewhere every connection is served by the
// listener's goroutines.
type eventLoop struct{}

func (l *listener) startLoops() bool { return false }

func (l *listener) stopLoops(context.Context) error { return nil }

func (p *Proxy) stopEventLoops() {}
