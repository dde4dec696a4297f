package local

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"

	"github.com/serinhq/serin/internal/demo"
)

// TestMain lets the test binary stand in for the programs the tests run as
// pods: with SERIN_LOCAL_TEST_APP=podinfo it serves podinfo on $PORT, with
// =crash it exits at once.
func TestMain(m *testing.M) {
	switch os.Getenv("SERIN_LOCAL_TEST_APP") {
	case "":
		os.Exit(m.Run())
	case "podinfo":
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		p := demo.NewPodinfo(demo.PodinfoOptions{
			Version:  demo.VersionFromImage(os.Getenv("SERIN_CONTAINER_IMAGE")),
			Hostname: os.Getenv("HOSTNAME"),
			Rand:     rand.New(rand.NewPCG(1, 2)),
		})
		ctx, cancel := signalContext()
		defer cancel()
		if err := demo.Serve(ctx, l, p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	}
}
