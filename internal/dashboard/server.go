package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/serinhq/serin/internal/proxy"
)

// AddrInUseError says the dashboard's address is taken.
type AddrInUseError struct {
	Addr string
	Err  error
}

func (e *AddrInUseError) Error() string { return fmt.Sprintf("address %s is already in use", e.Addr) }
func (e *AddrInUseError) Unwrap() error { return e.Err }

// Listen listens on addr (host:port) over TCP; an address in use is an
// *AddrInUseError.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &AddrInUseError{Addr: addr, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return ln, nil
}

// IsLoopback reports whether addr (host:port) only accepts connections
// from this machine.
func IsLoopback(addr string) bool { return proxy.IsLoopback(addr) }

// Serve serves h on ln until ctx ends, then shuts the server down; it
// closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}
