package kube

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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

func TestValidate(t *testing.T) {
	r := &Reconciler{MinInterval: DefaultMinInterval}
	valid := func() *v1beta1.Canary {
		return &v1beta1.Canary{
			ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
			Spec: v1beta1.CanarySpec{
				TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
				Service:   v1beta1.CanaryService{Port: 9898},
				Analysis:  &v1beta1.CanaryAnalysis{Interval: "10s", StepWeight: 10},
			},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*v1beta1.Canary)
		want   string
	}{
		{"valid", func(*v1beta1.Canary) {}, ""},
		{"interval unset", func(c *v1beta1.Canary) { c.Spec.Analysis.Interval = "" }, ""},
		{"interval under the minimum", func(c *v1beta1.Canary) { c.Spec.Analysis.Interval = "9s" },
			`spec.analysis.interval: must be at least 10s, got "9s"`},
		{"interval unparsable", func(c *v1beta1.Canary) { c.Spec.Analysis.Interval = "soon" },
			`spec.analysis.interval: must be a duration such as 30s or 1m, got "soon"`},
		{"every problem at once", func(c *v1beta1.Canary) {
			c.Spec.Analysis.StepWeights = []int{20, 10}
			c.Spec.Service.Port = 0
		}, "spec.service.port: "},
	} {
		c := valid()
		tc.mutate(c)
		_, err := r.validate(c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
		if tc.name == "every problem at once" && err != nil && !strings.Contains(err.Error(), "spec.analysis.stepWeights") {
			t.Errorf("%s: %v does not name spec.analysis.stepWeights too", tc.name, err)
		}
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

func TestValidateCrossNamespaceRefs(t *testing.T) {
	c := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "10s", StepWeight: 10,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "mine", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "t", Namespace: "test"}, ThresholdRange: &v1beta1.CanaryThresholdRange{Max: ptr.To(1.0)}},
					{Name: "shared", TemplateRef: &v1beta1.CrossNamespaceObjectReference{Name: "t", Namespace: "flagger"}, ThresholdRange: &v1beta1.CanaryThresholdRange{Max: ptr.To(1.0)}},
				},
				Alerts: []v1beta1.CanaryAlert{{Name: "a", ProviderRef: v1beta1.CrossNamespaceObjectReference{Name: "slack", Namespace: "flagger"}}},
			},
		},
	}
	if _, err := (&Reconciler{MinInterval: DefaultMinInterval}).validate(c); err != nil {
		t.Fatalf("cross-namespace references are allowed by default: %v", err)
	}
	_, err := (&Reconciler{MinInterval: DefaultMinInterval, NoCrossNamespaceRefs: true}).validate(c)
	if err == nil || !strings.Contains(err.Error(), "spec.analysis.metrics[1].templateRef.namespace") ||
		!strings.Contains(err.Error(), "spec.analysis.alerts[0].providerRef.namespace") ||
		strings.Contains(err.Error(), "metrics[0]") {
		t.Errorf("error %v, want the shared template and the alert provider named", err)
	}
}
