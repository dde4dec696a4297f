package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
)

var (
	kills = flag.Int("reliability.kills", 2,
		"how many releases TestKilledAtRandomPoints runs, killing serin run at a random point of each (docs/reliability.md: 20)")
	killSeed = flag.Uint64("reliability.seed", 0,
		"the seed of the random points at which TestKilledAtRandomPoints kills serin run; 0 picks one (it is logged)")
)

// TestKilledAtRandomPoints runs -reliability.kills releases on one state
// directory and kills `serin run` with SIGKILL at a random point of each:
// a random weight step and a random moment of that step's interval. Each
// time a new `serin run` must resume the release at the weight it had
// reached (one step further at most: the kill may come between moving the
// traffic and saving the state), never from zero, and promote it.
//
//	go test ./test/e2e/ -run TestKilledAtRandomPoints -reliability.kills=20 -v
func TestKilledAtRandomPoints(t *testing.T) {
	bin := serin(t)
	state := t.TempDir()
	file := filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, releaseManifests, freePort(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Canary of releaseManifests.
	const step, interval, maxWeight = 10, time.Second, v1beta1.DefaultMaxWeight

	run := start(t, bin, "run", "-f", file, "--state-dir", state)
	waitFor(t, time.Minute, "Initialized", func() bool {
		phase, _, _, _ := canary(t, bin, state)
		return phase == "Initialized"
	})
	seed := *killSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("%d releases, kill points from seed %d (-reliability.seed=%d)", *kills, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	promoted, fromZero := 0, 0
	for i := range *kills {
		img := fmt.Sprintf("quay.io/stefanprodan/podinfo:1.7.%d", i+1)
		target := step * (1 + rng.IntN(maxWeight/step-1))
		delay := time.Duration(rng.Int64N(int64(interval)))
		if out, err := cli(t, bin, state, "set", "image", "deployment/podinfo", "podinfod="+img); err != nil {
			t.Fatalf("release %d: set image: %v\n%s", i+1, err, out)
		}
		waitFor(t, time.Minute, fmt.Sprintf("release %d: weight %d", i+1, target), func() bool {
			phase, w, _, _ := canary(t, bin, state)
			return phase == "Progressing" && w >= target
		})
		time.Sleep(delay) // the random point within the step, not a synchronisation
		if err := run.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-run.exited
		killed := readState(t, state)
		if len(killed.Canaries) != 1 || killed.Canaries[0].Status.Phase != "Progressing" {
			t.Fatalf("release %d: persisted canary after the kill: %+v, want it mid-release", i+1, killed.Canaries)
		}
		killedAt := killed.Canaries[0].Status.CanaryWeight
		var orphans []int
		for _, p := range killed.Processes {
			orphans = append(orphans, p.PID)
		}
		assertGone(t, orphans) // killed with serin, or by the next run

		run = start(t, bin, "run", "--state-dir", state)
		// The weights the new run reports until the promotion.
		var seen []int
		waitFor(t, 2*time.Minute, fmt.Sprintf("release %d: Succeeded", i+1), func() bool {
			phase, w, _, ok := canary(t, bin, state)
			if ok && phase == "Progressing" && (len(seen) == 0 || seen[len(seen)-1] != w) {
				seen = append(seen, w)
			}
			return phase == "Succeeded"
		})
		t.Logf("release %d: killed %s after weight %d was seen, at weight %d; weights after the restart: %v",
			i+1, delay.Round(time.Millisecond), target, killedAt, seen)
		if len(seen) > 0 && seen[0] > killedAt+step {
			t.Errorf("release %d: resumed at weight %d, more than a step past the %d it was killed at", i+1, seen[0], killedAt)
		}
		for _, w := range seen {
			if w < killedAt {
				fromZero++
				t.Errorf("release %d: weight %d after the restart, below the %d it was killed at: %v", i+1, w, killedAt, seen)
				break
			}
		}
		if got := image(t, bin, state, "podinfo-primary"); got != img {
			t.Errorf("release %d: the primary runs %q after the promotion, want %q", i+1, got, img)
		}
		if !strings.Contains(run.out.String(), "Promotion completed") {
			t.Errorf("release %d: no promotion event in the restarted run's output:\n%s", i+1, run.out.String())
		}
		promoted++
	}
	t.Logf("%d releases killed mid-release: %d promoted, %d resumed below their weight or from zero", *kills, promoted, fromZero)
	running := pids(t, bin, state)
	if err := run.interrupt(t); err != nil {
		t.Fatalf("serin run after Ctrl-C: %v", err)
	}
	assertGone(t, running)
}
