package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// The files of a state directory.
const (
	stateFile  = "state.json"
	lockFile   = "lock"
	socketFile = "serin.sock"
	logDir     = "logs"
)

// State is everything the local runtime persists: the objects, the
// Canaries' statuses (inside the Canaries), the events and the processes
// it started.
type State struct {
	Deployments     []appsv1.Deployment      `json:"deployments,omitempty"`
	Services        []corev1.Service         `json:"services,omitempty"`
	Canaries        []v1beta1.Canary         `json:"canaries,omitempty"`
	MetricTemplates []v1beta1.MetricTemplate `json:"metricTemplates,omitempty"`
	AlertProviders  []v1beta1.AlertProvider  `json:"alertProviders,omitempty"`
	Events          []Event                  `json:"events,omitempty"`
	// Processes are the processes running when the state was written, so
	// that a runtime that was killed can stop them on its next start.
	Processes []ProcessRecord `json:"processes,omitempty"`
	// Routes are the traffic splits the Canaries set, by namespace/name.
	Routes map[string]rollout.Routes `json:"routes,omitempty"`
	// Applied is the sum of each object's content as last applied, by
	// kind/namespace/name: an object applied again with the same content
	// keeps its live state (an image set since, a release under way).
	Applied map[string]string `json:"applied,omitempty"`
}

// ProcessRecord identifies a process across runs.
type ProcessRecord struct {
	Pod string `json:"pod"`
	PID int    `json:"pid"`
	// Start is the process's start time as the OS reports it, so that a
	// later process with the same PID is not mistaken for it.
	Start string `json:"start,omitempty"`
}

// Event is something that happened to an object, as a Kubernetes event.
type Event struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Message   string    `json:"message"`
	// Count is how many times the event happened in a row.
	Count int `json:"count,omitempty"`
}

// Store is a locked state directory. Only one Store (one `serin run`) may
// hold a directory at a time.
type Store struct {
	dir  string
	lock *os.File
}

// ErrLocked is returned by OpenStore when another process holds the state
// directory.
var ErrLocked = errors.New("state directory in use")

// OpenStore creates dir if needed and locks it.
func OpenStore(dir string) (*Store, error) {
	if err := privateDir(filepath.Join(dir, logDir)); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = f.Chmod(0o600) // a lock an older serin made
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(f.Name())
		_ = f.Close()
		owner := strings.TrimSpace(string(b))
		if owner == "" {
			owner = "another process"
		} else {
			owner = "pid " + owner
		}
		return nil, fmt.Errorf("%w: %s is used by a running serin (%s); stop it, or pass --state-dir to use another directory", ErrLocked, dir, owner)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Store{dir: dir, lock: f}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Load reads the state; a directory without one gives an empty State.
func (s *Store) Load() (*State, error) {
	return ReadState(s.dir)
}

// ReadState reads the state of dir without locking it.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// Save writes the state atomically: to a temporary file, synced, then
// renamed over the old one, so a crash leaves either state whole.
func (s *Store) Save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return WriteFileAtomic(filepath.Join(s.dir, stateFile), b)
}

// WriteFileAtomic replaces path with data through a temporary file and a
// rename.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Reset removes the persisted state and logs, keeping the lock.
func (s *Store) Reset() error {
	if err := os.Remove(filepath.Join(s.dir, stateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reset state: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, logDir)); err != nil {
		return fmt.Errorf("reset state: %w", err)
	}
	return privateDir(filepath.Join(s.dir, logDir))
}

// privateDir creates logs, and the state directory above it, for their
// user alone (0700); a logs directory an older serin made is made so.
// A state directory that already existed keeps its mode, since it may be
// one the user chose for more than serin, but its files are 0600.
func privateDir(logs string) error {
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return err
	}
	return os.Chmod(logs, 0o700)
}

// Close releases the lock.
func (s *Store) Close() error {
	_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	return s.lock.Close()
}

// SocketPath is the local API's socket in a state directory.
func SocketPath(dir string) string { return filepath.Join(dir, socketFile) }

// LogDir is the directory of the process logs in a state directory.
func LogDir(dir string) string { return filepath.Join(dir, logDir) }

// DefaultStateDir is $SERIN_STATE_DIR, or serin/ under the user's state
// directory ($XDG_STATE_HOME or ~/.local/state).
func DefaultStateDir() string {
	if d := os.Getenv("SERIN_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "serin")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "serin")
	}
	return filepath.Join(os.TempDir(), "serin")
}

// KillStale kills the recorded processes that still run (a runtime that
// was killed leaves them behind) and reports how many it killed.
func KillStale(recs []ProcessRecord) int {
	n := 0
	for _, r := range recs {
		if r.Start == "" || !alive(r.PID) || processStart(r.PID) != r.Start {
			continue
		}
		signalGroup(r.PID, true)
		n++
	}
	return n
}
