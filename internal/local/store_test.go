package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

func TestStoreRoundTripAndLock(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenStore: err = %v, want ErrLocked", err)
	}
	st, err := s.Load()
	if err != nil || len(st.Canaries) != 0 {
		t.Fatalf("empty dir: state %+v, err %v", st, err)
	}
	c := v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"}}
	c.Status = v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 40, FailedChecks: 2}
	want := &State{
		Canaries: []v1beta1.Canary{c},
		Events:   []Event{{Seq: 7, Reason: "Progressing", Kind: "Canary", Name: "podinfo"}},
		Routes:   map[string]rollout.Routes{"test/podinfo": {PrimaryWeight: 60, CanaryWeight: 40}},
	}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	s2, err := OpenStore(dir) // the lock is free again
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	gs := got.Canaries[0].Status
	if gs.Phase != v1beta1.PhaseProgressing || gs.CanaryWeight != 40 || gs.FailedChecks != 2 {
		t.Errorf("status after reload = %+v", gs)
	}
	if got.Routes["test/podinfo"].CanaryWeight != 40 || got.Events[0].Seq != 7 {
		t.Errorf("routes or events lost: %+v %+v", got.Routes, got.Events)
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("content %q, err %v; want %q", b, err, content)
		}
	}
}

func TestEventLogCountsRepeats(t *testing.T) {
	l := newEventLog(nil)
	e := Event{Type: "Warning", Reason: "BackOff", Kind: "Pod", Name: "p", Message: "exited"}
	l.add(fixedTime, e)
	l.add(fixedTime, Event{Reason: "Other", Kind: "Pod", Name: "p"})
	last := l.add(fixedTime, e)
	all := l.all()
	if len(all) != 2 || last.Count != 2 || all[1].Reason != "BackOff" {
		t.Fatalf("events = %+v, want the repeat counted and moved last", all)
	}
	evs, _ := l.since(all[0].Seq)
	if len(evs) != 1 || evs[0].Reason != "BackOff" {
		t.Errorf("since = %+v", evs)
	}
}
