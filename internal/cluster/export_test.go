package cluster

import "time"

// SetFlaggerRecheck sets how often Watchers look for Flagger's CRD until
// restore is called; no Watcher may run meanwhile but the test's.
func SetFlaggerRecheck(d time.Duration) (restore func()) {
	old := flaggerRecheck
	flaggerRecheck = d
	return func() { flaggerRecheck = old }
}
