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

// openTest opens a runtime on dir with the test engine.
func openTest(t *testing.T, dir string) *Runtime {
	t.Helper()
	rt, err := Open(Options{StateDir: dir, NewEngine: testEngine, Self: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
