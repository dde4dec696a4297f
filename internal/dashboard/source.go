package dashboard

import (
	"context"
	"time"

	"github.com/serinhq/serin/internal/local"
	"github.com/serinhq/serin/internal/rollout"
)

// Source is what the dashboard reads and steers: a runtime, local or a
// cluster. *local.Client is one; a cluster's is built on watches, so that
// many browsers cost the API server nothing more than one.
type Source interface {
	// Snapshot returns the Canaries, Deployments, Services and pods.
	Snapshot(ctx context.Context) (local.Snapshot, error)
	// Stats returns each Deployment's golden metrics over window.
	Stats(ctx context.Context, window time.Duration) ([]local.DeploymentStat, error)
	// Events calls f with the events after since, oldest first, and with
	// watch then with each new one until ctx ends.
	Events(ctx context.Context, since int64, watch bool, f func(local.Event) error) error
	// Command gives the Canary ns/name a manual command (promote, abort,
	// pause, resume, retry), as `serin promote` does.
	Command(ctx context.Context, ns, name string, cmd rollout.Command) error
}
