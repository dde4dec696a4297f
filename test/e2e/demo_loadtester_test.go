package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// startDemoWithLoadtester starts serin demo --with-loadtester on free
// ports, with extra flags, and returns it with podinfo-canary's URL.
func startDemoWithLoadtester(t *testing.T, bin, state string, extra ...string) (*started, string) {
	t.Helper()
	podinfo := freePort(t)
	args := append([]string{"demo", "--with-loadtester", "--interval=1s", "--state-dir", state, "--dashboard=",
		"--frontend-port", fmt.Sprint(freePort(t)), "--podinfo-port", fmt.Sprint(podinfo)}, extra...)
	return start(t, bin, args...), fmt.Sprintf("http://podinfo-canary.test:%d/", podinfo)
}

// inOrder checks that out holds each of parts, in that order.
func inOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	at := 0
	for _, p := range parts {
		i := strings.Index(out[at:], p)
		if i < 0 {
			t.Fatalf("no %q after byte %d of:\n%s", p, at, out)
		}
		at += i + len(p)
	}
}

// TestDemoWithLoadtesterExit: serin demo --with-loadtester --exit shows
// the acceptance test before the canary gets traffic, the hey load from
// the loadtester, and the promotion gate holding the release until it
// opens it as the curl it prints would; the release is promoted.
func TestDemoWithLoadtesterExit(t *testing.T) {
	bin := serin(t)
	d, canaryURL := startDemoWithLoadtester(t, bin, t.TempDir(), "--exit")
	select {
	case <-d.exited:
		if d.err != nil {
			t.Fatalf("serin demo --with-loadtester --exit: %v\n%s", d.err, d.out.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("serin demo --with-loadtester --exit did not exit")
	}
	inOrder(t, d.out.String(),
		"Flagger's loadtester (as serin loadtester)",
		"pre-rollout        acceptance-test  hey -n 20 -c 2 "+canaryURL,
		"Loadtester started hey -n 20 -c 2 "+canaryURL,
		"Loadtester finished: 20 requests to "+canaryURL+": 20 answered below 500",
		"Advance podinfo.test canary weight 10",
		"Loadtester started hey -z 1m -q 10 -c 2 "+canaryURL,
		"Waiting for approval to promote podinfo.test",
		"The promotion gate holds podinfo at its maximum weight",
		"serin promote canary/podinfo",
		"/gate/open",
		"Gate opened with the curl above",
		"Promotion completed!",
		"Release promoted",
		"loadtester tasks:",
	)
	if strings.Contains(d.out.String(), "Loadtester failed") {
		t.Errorf("a loadtester task failed:\n%s", d.out.String())
	}
}

// TestDemoWithLoadtesterPromote: without --exit the gate holds until a
// person opens it, here with serin promote.
func TestDemoWithLoadtesterPromote(t *testing.T) {
	bin := serin(t)
	state := t.TempDir()
	d, _ := startDemoWithLoadtester(t, bin, state)
	waitFor(t, 2*time.Minute, "the promotion gate", func() bool {
		return strings.Contains(d.out.String(), "The promotion gate holds podinfo")
	})
	// It holds: the analysis asks the gate again and is answered 403.
	n := strings.Count(d.out.String(), "Waiting for approval to promote")
	waitFor(t, 30*time.Second, "the gate asked again", func() bool {
		return strings.Count(d.out.String(), "Waiting for approval to promote") > n
	})
	if strings.Contains(d.out.String(), "Promoting") {
		t.Fatalf("promoted while the gate was closed:\n%s", d.out.String())
	}
	if out, err := cli(t, bin, state, "promote", "canary/podinfo"); err != nil {
		t.Fatalf("serin promote: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the promotion", func() bool { return strings.Contains(d.out.String(), "Release promoted") })
	if err := d.interrupt(t); err != nil {
		t.Fatalf("demo after Ctrl-C: %v", err)
	}
}
