package kube

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		annotations map[string]string
		want        rollout.Command
		wantErr     bool
	}{
		{nil, rollout.NoCommand, false},
		{map[string]string{"other": "promote"}, rollout.NoCommand, false},
		{map[string]string{CommandAnnotation: "promote"}, rollout.Promote, false},
		{map[string]string{CommandAnnotation: "abort"}, rollout.Abort, false},
		{map[string]string{CommandAnnotation: "pause"}, rollout.Pause, false},
		{map[string]string{CommandAnnotation: "resume"}, rollout.Resume, false},
		{map[string]string{CommandAnnotation: "Promote"}, rollout.NoCommand, true},
		{map[string]string{CommandAnnotation: ""}, rollout.NoCommand, true},
	} {
		c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
		got, err := command(c)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("command(%v) = %q, %v; want %q, error %v", tc.annotations, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCheckInterval(t *testing.T) {
	r := &Reconciler{MinInterval: DefaultMinInterval}
	for interval, wantErr := range map[string]bool{"": false, "10s": false, "1m": false, "9s": true, "soon": true} {
		c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{Analysis: &v1beta1.CanaryAnalysis{Interval: interval}}}
		if err := r.checkInterval(c); (err != nil) != wantErr {
			t.Errorf("interval %q: err = %v, want error %v", interval, err, wantErr)
		}
	}
	if got := interval(&v1beta1.Canary{}); got != time.Minute {
		t.Errorf("default interval = %s, want 1m", got)
	}
}

func TestCanaryChanged(t *testing.T) {
	p := canaryChanged()
	base := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "c", Generation: 1, ResourceVersion: "1"}}
	status := base.DeepCopy()
	status.ResourceVersion, status.Status.CanaryWeight = "2", 10
	spec := base.DeepCopy()
	spec.Generation = 2
	annotated := base.DeepCopy()
	annotated.Annotations = map[string]string{CommandAnnotation: "pause"}
	deleting := base.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	for name, tc := range map[string]struct {
		new  *v1beta1.Canary
		want bool
	}{
		"status write":   {status, false},
		"spec change":    {spec, true},
		"command":        {annotated, true},
		"deletion start": {deleting, true},
	} {
		if got := p.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: update passed = %v, want %v", name, got, tc.want)
		}
	}
	if !p.Create(event.CreateEvent{Object: base}) {
		t.Error("creation must pass")
	}
}
