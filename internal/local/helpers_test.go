package local

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runTest runs rt until the test ends, and fails the test if Run fails.
func runTest(t *testing.T, rt *Runtime) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// openTest opens a runtime on dir with the test engine.
func openTest(t *testing.T, dir string) *Runtime {
	t.Helper()
	rt, err := Open(Options{StateDir: dir, NewEngine: testEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
