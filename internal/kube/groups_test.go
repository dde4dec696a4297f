package kube

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

// TestAPIGroupsOnAPIServer checks which groups the manager reconciles on
// a cluster with serin's CRDs only: serin.dev by default, with a log line
// saying so; flagger.app asked for by name is an error naming its CRD.
func TestAPIGroupsOnAPIServer(t *testing.T) {
	cluster, _ := startCluster(t, true)
	var logs bytes.Buffer
	o := Options{Registry: prometheus.NewRegistry(), SkipNameValidation: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, err := NewManager(cluster.RESTConfig(), o); err != nil {
		t.Fatalf("default groups: %v", err)
	}
	if got := logs.String(); !strings.Contains(got, `msg="reconciling Canaries" apiGroups=[serin.dev]`) {
		t.Errorf("log %q, want the groups reconciled", got)
	}
	for _, tc := range []struct {
		groups []string
		want   string
	}{
		{[]string{"flagger.app"}, "api group flagger.app: the CustomResourceDefinition canaries.flagger.app (v1beta1) is not installed"},
		{[]string{"serin.dev", "flagger.app"}, "canaries.flagger.app (v1beta1) is not installed"},
		{[]string{"istio.io"}, `api group "istio.io": want serin.dev or flagger.app`},
	} {
		o := Options{Registry: prometheus.NewRegistry(), SkipNameValidation: true, APIGroups: tc.groups, Logger: slog.New(slog.DiscardHandler)}
		if _, err := NewManager(cluster.RESTConfig(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("groups %v: error %v, want %q", tc.groups, err, tc.want)
		}
	}
	o.APIGroups, o.Registry = []string{"serin.dev"}, prometheus.NewRegistry()
	if _, err := NewManager(cluster.RESTConfig(), o); err != nil {
		t.Errorf("groups [serin.dev]: %v", err)
	}
}

// TestDeriveTimes checks the timing derived from a status Flagger wrote:
// a release that has stepped continues from its last step, one that has
// not starts with its first step, and other phases get none.
func TestDeriveTimes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ltt := metav1.NewTime(now.Add(-7 * time.Second))
	for _, tc := range []struct {
		name     string
		st       v1beta1.CanaryStatus
		stepped  bool
		analysis bool
		at       time.Time
	}{
		{"progressing at weight 30", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 30, LastTransitionTime: ltt}, true, true, ltt.Time},
		{"blue/green iteration 2", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, Iterations: 2, LastTransitionTime: ltt}, true, true, ltt.Time},
		{"progressing before its first step", v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, LastTransitionTime: ltt}, false, true, ltt.Time},
		{"promoting", v1beta1.CanaryStatus{Phase: v1beta1.PhasePromoting, LastTransitionTime: ltt}, true, true, ltt.Time},
		{"no transition time", v1beta1.CanaryStatus{Phase: v1beta1.PhaseWaitingPromotion}, true, true, now},
		{"succeeded", v1beta1.CanaryStatus{Phase: v1beta1.PhaseSucceeded, LastTransitionTime: ltt}, false, false, time.Time{}},
		{"failed", v1beta1.CanaryStatus{Phase: v1beta1.PhaseFailed, LastTransitionTime: ltt}, false, false, time.Time{}},
	} {
		st := tc.st
		deriveTimes(&st, now)
		check := func(field string, p *metav1.Time, want bool) {
			switch {
			case want && (p == nil || !p.Time.Equal(tc.at)):
				t.Errorf("%s: %s = %v, want %v", tc.name, field, p, tc.at)
			case !want && p != nil:
				t.Errorf("%s: %s = %v, want unset", tc.name, field, p)
			}
		}
		check("analysisStartTime", st.AnalysisStartTime, tc.analysis)
		check("progressTime", st.ProgressTime, tc.analysis)
		check("lastStepTime", st.LastStepTime, tc.stepped)
		check("lastCheckTime", st.LastCheckTime, tc.stepped)
	}
	// Fields already set are kept.
	set := metav1.NewTime(now.Add(-time.Second))
	st := v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 30, LastTransitionTime: ltt, LastCheckTime: &set}
	deriveTimes(&st, now)
	if !st.LastCheckTime.Equal(&set) {
		t.Errorf("lastCheckTime = %v, want the %v it had", st.LastCheckTime, set)
	}
}
