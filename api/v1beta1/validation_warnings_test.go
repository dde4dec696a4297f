package v1beta1

import (
	"slices"
	"testing"
	"time"
)

func TestCanaryWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Canary)
		opts   ValidationOptions
		want   []string // fields
	}{
		{name: "walkthrough canary", mutate: func(*Canary) {}},
		{name: "stepWeight beside stepWeights", mutate: func(c *Canary) { c.Spec.Analysis.StepWeights = []int{5, 50} },
			want: []string{"spec.analysis.stepWeight"}},
		{name: "stepWeights above maxWeight", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.StepWeights = 0, 50, []int{20, 80}
		}, want: []string{"spec.analysis.maxWeight"}},
		{name: "spelled-out metric interval", mutate: func(c *Canary) { c.Spec.Analysis.Metrics[1].Interval = "2mins" },
			want: []string{"spec.analysis.metrics[1].interval"}},
		{name: "Istio and App Mesh fields without a provider", mutate: func(c *Canary) {
			c.Spec.Service.Gateways = []string{"public-gateway.istio-system.svc.cluster.local"}
			c.Spec.Service.TrafficPolicy = &RawJSON{Raw: []byte(`{"tls":{"mode":"DISABLE"}}`)}
			c.Spec.Service.MeshName = "global"
		}, want: []string{"spec.service.gateways", "spec.service.trafficPolicy", "spec.service.meshName"}},
		{name: "Gateway API fields on linkerd", mutate: func(c *Canary) {
			c.Spec.Provider = "linkerd"
			c.Spec.Service.BackendTimeout = "5s"
			c.Spec.Service.Mirror = []ServiceMirror{{BackendRef: MirrorBackendRef{Name: "shadow", Port: ptr[int32](80)}}}
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c"}
		}, want: []string{"spec.service.backendTimeout", "spec.service.mirror", "spec.analysis.sessionAffinity"}},
		{name: "Gateway API fields on the default provider, unknown", mutate: func(c *Canary) {
			c.Spec.Service.BackendTimeout = "5s"
		}},
		{name: "Gateway API fields on the default provider, gatewayapi", opts: ValidationOptions{DefaultProvider: "gatewayapi:v1"}, mutate: func(c *Canary) {
			c.Spec.Service.BackendTimeout = "5s"
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c", SameSite: "None"}
		}, want: []string{"spec.analysis.sessionAffinity.sameSite"}},
		{name: "locally, the proxy routes whatever the provider", opts: ValidationOptions{NoCluster: true}, mutate: func(c *Canary) {
			c.Spec.Provider = "linkerd"
			c.Spec.Service.BackendTimeout = "5s"
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c"}
		}, want: []string{"spec.service.backendTimeout"}},
		{name: "kubernetes provider", mutate: func(c *Canary) { c.Spec.Provider = "kubernetes" },
			want: []string{"spec.analysis.iterations"}},
		{name: "disableTLS on http", mutate: func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "w", URL: "http://loadtester/", DisableTLS: true}}
		}, want: []string{"spec.analysis.webhooks[0].disableTLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := walkthroughCanary()
			tt.mutate(c)
			if errs := ValidateCanary(c, tt.opts); len(errs) > 0 {
				t.Fatalf("a Canary with warnings is refused: %v", errs)
			}
			ws := CanaryWarnings(c, tt.opts)
			var got []string
			for _, w := range ws {
				got = append(got, w.Field)
				if w.Message == "" {
					t.Errorf("%s: empty message", w.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings on %q, want on %q: %s", got, tt.want, Warnings(ws))
			}
		})
	}
}

func TestParseMetricInterval(t *testing.T) {
	for in, want := range map[string]struct {
		d       time.Duration
		spelled bool
		out     string
	}{
		"1m": {time.Minute, false, "1m"}, "90s": {90 * time.Second, false, "90s"}, "1m30s": {90 * time.Second, false, "1m30s"},
		"1min": {time.Minute, true, "1m"}, "30sec": {30 * time.Second, true, "30s"}, "2hours": {2 * time.Hour, true, "2h"},
	} {
		d, spelled, err := ParseMetricInterval(in)
		if err != nil || d != want.d || spelled != want.spelled {
			t.Errorf("ParseMetricInterval(%q) = %v, %t, %v; want %v, %t", in, d, spelled, err, want.d, want.spelled)
		}
		m := CanaryMetric{Interval: in}
		if got := m.EffectiveInterval(); got != want.out {
			t.Errorf("EffectiveInterval of %q = %q, want %q", in, got, want.out)
		}
	}
	for _, bad := range []string{"soon", "1 min", "min", "1.5min", "-1min"} {
		if _, _, err := ParseMetricInterval(bad); err == nil {
			t.Errorf("ParseMetricInterval(%q) accepted", bad)
		}
	}
}
