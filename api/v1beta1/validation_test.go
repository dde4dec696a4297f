package v1beta1

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptr[T any](v T) *T { return &v }

// walkthroughCanary is the Canary of the walkthrough's step 4.
func walkthroughCanary() *Canary {
	return &Canary{
		TypeMeta:   typeMetaFor("Canary"),
		ObjectMeta: objectMeta("podinfo", "test"),
		Spec: CanarySpec{
			TargetRef: LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   CanaryService{Port: 9898},
			Analysis: &CanaryAnalysis{
				Interval:   "10s",
				Threshold:  5,
				StepWeight: 10,
				MaxWeight:  100,
				Metrics: []CanaryMetric{
					{Name: "request-success-rate", ThresholdRange: &CanaryThresholdRange{Min: ptr(99.0)}, Interval: "1m"},
					{Name: "request-duration", ThresholdRange: &CanaryThresholdRange{Max: ptr(500.0)}, Interval: "1m"},
				},
			},
		},
	}
}

type wantErr struct {
	field string
	typ   field.ErrorType
}

func errorsOf(list field.ErrorList) []wantErr {
	out := make([]wantErr, 0, len(list))
	for _, e := range list {
		out = append(out, wantErr{e.Field, e.Type})
	}
	return out
}

func TestValidateCanary(t *testing.T) {
	invalid, required, forbidden, notSupported, duplicate := field.ErrorTypeInvalid, field.ErrorTypeRequired,
		field.ErrorTypeForbidden, field.ErrorTypeNotSupported, field.ErrorTypeDuplicate
	tests := []struct {
		name   string
		mutate func(c *Canary)
		opts   ValidationOptions
		want   []wantErr
	}{
		{name: "walkthrough canary is valid", mutate: func(*Canary) {}},
		{name: "missing name", mutate: func(c *Canary) { c.Name = "" },
			want: []wantErr{{"metadata.name", required}}},
		{name: "bad namespace", mutate: func(c *Canary) { c.Namespace = "Test_NS" },
			want: []wantErr{{"metadata.namespace", invalid}}},
		{name: "missing targetRef", mutate: func(c *Canary) { c.Spec.TargetRef = LocalObjectReference{} },
			want: []wantErr{{"spec.targetRef.name", required}}},
		{name: "targetRef of another kind", mutate: func(c *Canary) { c.Spec.TargetRef.Kind = "StatefulSet" },
			want: []wantErr{{"spec.targetRef.kind", notSupported}}},
		{name: "DaemonSet target", mutate: func(c *Canary) { c.Spec.TargetRef.Kind = "DaemonSet" }},
		{name: "DaemonSet target with an autoscaler", mutate: func(c *Canary) {
			c.Spec.TargetRef.Kind = "DaemonSet"
			c.Spec.AutoscalerRef = &AutoscalerReference{Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
		}, want: []wantErr{{"spec.autoscalerRef", forbidden}}},
		{name: "DaemonSet target, locally", opts: ValidationOptions{NoCluster: true}, mutate: func(c *Canary) { c.Spec.TargetRef.Kind = "DaemonSet" },
			want: []wantErr{{"spec.targetRef.kind", invalid}}},
		{name: "KEDA ScaledObject", mutate: func(c *Canary) {
			c.Spec.AutoscalerRef = &AutoscalerReference{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "podinfo"}
		}, want: []wantErr{{"spec.autoscalerRef.kind", invalid}}},
		{name: "primaryScalerReplicas out of order", mutate: func(c *Canary) {
			c.Spec.AutoscalerRef = &AutoscalerReference{Kind: "HorizontalPodAutoscaler", Name: "podinfo",
				PrimaryScalerReplicas: &ScalerReplicas{MinReplicas: ptr[int32](5), MaxReplicas: ptr[int32](2)}}
		}, want: []wantErr{{"spec.autoscalerRef.primaryScalerReplicas.minReplicas", invalid}}},
		{name: "Flagger's service fields", mutate: func(c *Canary) {
			s := &c.Spec.Service
			s.BackendTimeout, s.Headless, s.TrafficDistribution = "5s", true, "PreferSameZone"
			s.Mirror = []ServiceMirror{{BackendRef: MirrorBackendRef{Name: "shadow", Port: ptr[int32](80)}}}
			s.UnmanagedMetadata = &UnmanagedMetadata{Labels: []string{"a"}, Annotations: []string{"b"}}
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c", Domain: "example.com", Path: "/", HTTPOnly: true, Secure: true, SameSite: "Lax", Partitioned: true}
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "w", URL: "https://hook.example.com/", DisableTLS: true}}
		}},
		{name: "bad Flagger service fields", mutate: func(c *Canary) {
			s := &c.Spec.Service
			s.BackendTimeout, s.TrafficDistribution = "soon", "Anywhere"
			s.Mirror = []ServiceMirror{{BackendRef: MirrorBackendRef{Name: "shadow"}}}
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "c", Path: "/a; Secure", SameSite: "Sometimes"}
		}, want: []wantErr{
			{"spec.service.backendTimeout", invalid}, {"spec.service.trafficDistribution", notSupported},
			{"spec.service.mirror[0].backendRef.port", required},
			{"spec.analysis.sessionAffinity.sameSite", notSupported}, {"spec.analysis.sessionAffinity.path", invalid},
		}},
		{name: "backendTimeout above timeout", mutate: func(c *Canary) { c.Spec.Service.Timeout, c.Spec.Service.BackendTimeout = "10s", "1m" },
			want: []wantErr{{"spec.service.backendTimeout", invalid}}},
		{name: "timeouts that are not Gateway API durations", mutate: func(c *Canary) { c.Spec.Service.Timeout, c.Spec.Service.BackendTimeout = "1.5s", "100us" },
			want: []wantErr{{"spec.service.timeout", invalid}, {"spec.service.backendTimeout", invalid}}},
		{name: "metric interval in Flagger's spelled-out units", mutate: func(c *Canary) { c.Spec.Analysis.Metrics[0].Interval = "1min" }},
		{name: "threshold 0 is the default", mutate: func(c *Canary) { c.Spec.Analysis.Threshold = 0 }},
		{name: "missing service.port", mutate: func(c *Canary) { c.Spec.Service.Port = 0 },
			want: []wantErr{{"spec.service.port", required}}},
		{name: "service.port out of range", mutate: func(c *Canary) { c.Spec.Service.Port = 70000 },
			want: []wantErr{{"spec.service.port", invalid}}},
		{name: "targetPort out of range", mutate: func(c *Canary) { c.Spec.Service.TargetPort = intstr.FromInt32(-1) },
			want: []wantErr{{"spec.service.targetPort", invalid}}},
		{name: "targetPort by name", mutate: func(c *Canary) { c.Spec.Service.TargetPort = intstr.FromString("http") }},
		{name: "unparsable service timeout", mutate: func(c *Canary) { c.Spec.Service.Timeout = "soon" },
			want: []wantErr{{"spec.service.timeout", invalid}}},
		{name: "another mesh's provider", mutate: func(c *Canary) { c.Spec.Provider = "istio" },
			want: []wantErr{{"spec.provider", invalid}}},
		{name: "unknown provider", mutate: func(c *Canary) { c.Spec.Provider = "linkerd2" },
			want: []wantErr{{"spec.provider", notSupported}}},
		{name: "every supported provider", mutate: func(c *Canary) { c.Spec.Provider = "smi:v1alpha2" }},
		{name: "the local proxy on a cluster", mutate: func(c *Canary) { c.Spec.Provider = "serin" },
			want: []wantErr{{"spec.provider", invalid}}},
		{name: "the local proxy locally", mutate: func(c *Canary) { c.Spec.Provider = "serin" }, opts: ValidationOptions{NoCluster: true}},
		{name: "metricsServer not a URL", mutate: func(c *Canary) { c.Spec.MetricsServer = "prometheus:9090" },
			want: []wantErr{{"spec.metricsServer", invalid}}},
		{name: "progress deadline zero", mutate: func(c *Canary) { c.Spec.ProgressDeadlineSeconds = ptr(int32(0)) },
			want: []wantErr{{"spec.progressDeadlineSeconds", invalid}}},
		{name: "no analysis", mutate: func(c *Canary) { c.Spec.Analysis = nil },
			want: []wantErr{{"spec.analysis", required}}},
		{name: "no analysis with skipAnalysis", mutate: func(c *Canary) { c.Spec.Analysis = nil; c.Spec.SkipAnalysis = true }},
		{name: "unparsable interval", mutate: func(c *Canary) { c.Spec.Analysis.Interval = "10 seconds" },
			want: []wantErr{{"spec.analysis.interval", invalid}}},
		{name: "interval below the Kubernetes minimum", mutate: func(c *Canary) { c.Spec.Analysis.Interval = "2s" },
			want: []wantErr{{"spec.analysis.interval", invalid}}},
		{name: "short interval is fine locally", mutate: func(c *Canary) { c.Spec.Analysis.Interval = "2s" },
			opts: ValidationOptions{MinInterval: MinIntervalLocal}},
		{name: "interval below the local minimum", mutate: func(c *Canary) { c.Spec.Analysis.Interval = "500ms" },
			opts: ValidationOptions{MinInterval: MinIntervalLocal}, want: []wantErr{{"spec.analysis.interval", invalid}}},
		{name: "negative threshold", mutate: func(c *Canary) { c.Spec.Analysis.Threshold = -1 },
			want: []wantErr{{"spec.analysis.threshold", invalid}}},
		{name: "stepWeight zero", mutate: func(c *Canary) { c.Spec.Analysis.StepWeight = 0 },
			want: []wantErr{{"spec.analysis.stepWeight", invalid}}},
		{name: "stepWeight over 100", mutate: func(c *Canary) { c.Spec.Analysis.StepWeight = 120 },
			want: []wantErr{{"spec.analysis.stepWeight", invalid}, {"spec.analysis.maxWeight", invalid}}},
		{name: "maxWeight below stepWeight", mutate: func(c *Canary) { c.Spec.Analysis.MaxWeight = 5 },
			want: []wantErr{{"spec.analysis.maxWeight", invalid}}},
		{name: "maxWeight not a multiple of stepWeight", mutate: func(c *Canary) { c.Spec.Analysis.MaxWeight = 55 }},
		{name: "maxWeight over 100", mutate: func(c *Canary) { c.Spec.Analysis.MaxWeight = 101 },
			want: []wantErr{{"spec.analysis.maxWeight", invalid}}},
		{name: "stepWeights", mutate: func(c *Canary) { c.Spec.Analysis.StepWeight = 0; c.Spec.Analysis.StepWeights = []int{1, 5, 20, 50, 80} }},
		{name: "stepWeight with stepWeights", mutate: func(c *Canary) { c.Spec.Analysis.StepWeights = []int{10, 20} }},
		{name: "stepWeights not increasing", mutate: func(c *Canary) { c.Spec.Analysis.StepWeight = 0; c.Spec.Analysis.StepWeights = []int{10, 30, 20} },
			want: []wantErr{{"spec.analysis.stepWeights[2]", invalid}}},
		{name: "stepWeights over 100", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.MaxWeight = 0
			c.Spec.Analysis.StepWeights = []int{50, 101}
		}, want: []wantErr{{"spec.analysis.stepWeights[1]", invalid}}},
		{name: "stepWeights over maxWeight", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.MaxWeight = 50
			c.Spec.Analysis.StepWeights = []int{20, 60}
		}},
		{name: "stepWeightPromotion over 100", mutate: func(c *Canary) { c.Spec.Analysis.StepWeightPromotion = 200 },
			want: []wantErr{{"spec.analysis.stepWeightPromotion", invalid}}},
		{name: "blue/green", mutate: func(c *Canary) { c.Spec.Analysis.StepWeight = 0; c.Spec.Analysis.Iterations = 10 }},
		{name: "iterations with stepWeight", mutate: func(c *Canary) { c.Spec.Analysis.Iterations = 10 },
			want: []wantErr{{"spec.analysis.stepWeight", forbidden}}},
		{name: "iterations with stepWeights", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.StepWeights = []int{10}
			c.Spec.Analysis.Iterations = 10
		}, want: []wantErr{{"spec.analysis.stepWeights", forbidden}}},
		{name: "A/B testing", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Iterations = 10
			c.Spec.Analysis.Match = []HTTPMatchRequest{{Headers: map[string]StringMatch{"x-canary": {Exact: "insider"}}}}
		}},
		{name: "match without iterations", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Match = []HTTPMatchRequest{{Headers: map[string]StringMatch{"x-canary": {Exact: "insider"}}}}
		}, want: []wantErr{{"spec.analysis.iterations", required}}},
		{name: "string match with two ways", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Iterations = 10
			c.Spec.Analysis.Match = []HTTPMatchRequest{{Headers: map[string]StringMatch{"x-canary": {Exact: "a", Prefix: "b"}}}}
		}, want: []wantErr{{"spec.analysis.match[0].headers[x-canary]", invalid}}},
		{name: "string match with a bad regex", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Iterations = 10
			c.Spec.Analysis.Match = []HTTPMatchRequest{{URI: &StringMatch{Regex: "(["}}}
		}, want: []wantErr{{"spec.analysis.match[0].uri.regex", invalid}}},
		{name: "mirror with match", mutate: func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Iterations = 10
			c.Spec.Analysis.Mirror = true
			c.Spec.Analysis.Match = []HTTPMatchRequest{{Headers: map[string]StringMatch{"x-canary": {Exact: "insider"}}}}
		}, want: []wantErr{{"spec.analysis.mirror", forbidden}}},
		{name: "mirrorWeight over 100", mutate: func(c *Canary) { c.Spec.Analysis.Mirror = true; c.Spec.Analysis.MirrorWeight = 101 },
			want: []wantErr{{"spec.analysis.mirrorWeight", invalid}}},
		{name: "negative iterations", mutate: func(c *Canary) { c.Spec.Analysis.Iterations = -2 },
			want: []wantErr{{"spec.analysis.iterations", invalid}}},
		{name: "ready threshold zero", mutate: func(c *Canary) { c.Spec.Analysis.CanaryReadyThreshold = ptr(0) },
			want: []wantErr{{"spec.analysis.canaryReadyThreshold", invalid}}},
		{name: "thresholdRange min above max", mutate: func(c *Canary) {
			c.Spec.Analysis.Metrics[0].ThresholdRange = &CanaryThresholdRange{Min: ptr(99.0), Max: ptr(90.0)}
		}, want: []wantErr{{"spec.analysis.metrics[0].thresholdRange.min", invalid}}},
		{name: "unparsable metric interval", mutate: func(c *Canary) { c.Spec.Analysis.Metrics[1].Interval = "1 minute" },
			want: []wantErr{{"spec.analysis.metrics[1].interval", invalid}}},
		{name: "metric without name", mutate: func(c *Canary) { c.Spec.Analysis.Metrics[1].Name = "" },
			want: []wantErr{{"spec.analysis.metrics[1].name", required}}},
		{name: "duplicate metric", mutate: func(c *Canary) { c.Spec.Analysis.Metrics[1].Name = c.Spec.Analysis.Metrics[0].Name },
			want: []wantErr{{"spec.analysis.metrics[1].name", duplicate}}},
		{name: "custom metric without templateRef", mutate: func(c *Canary) {
			c.Spec.Analysis.Metrics = append(c.Spec.Analysis.Metrics, CanaryMetric{Name: "error-budget"})
		}, want: []wantErr{{"spec.analysis.metrics[2].templateRef", required}}},
		{name: "custom metric with templateRef", mutate: func(c *Canary) {
			c.Spec.Analysis.Metrics = append(c.Spec.Analysis.Metrics, CanaryMetric{Name: "error-budget",
				TemplateRef: &CrossNamespaceObjectReference{Name: "error-budget"}})
		}},
		{name: "custom metric with an inline query (Flagger's deprecated form)", mutate: func(c *Canary) {
			c.Spec.Analysis.Metrics = append(c.Spec.Analysis.Metrics, CanaryMetric{Name: "error-budget",
				Query: `sum(rate(errors_total[1m]))`})
		}},
		{name: "templateRef without name", mutate: func(c *Canary) {
			c.Spec.Analysis.Metrics[0].TemplateRef = &CrossNamespaceObjectReference{Namespace: "x"}
		}, want: []wantErr{{"spec.analysis.metrics[0].templateRef.name", required}}},
		{name: "every webhook type", mutate: func(c *Canary) {
			for _, ht := range HookTypes {
				c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks,
					CanaryWebhook{Name: string(ht), Type: ht, URL: "http://loadtester.test/", Timeout: "15s", Retries: 2})
			}
		}},
		{name: "unknown webhook type", mutate: func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "load", Type: "during-rollout", URL: "http://loadtester.test/"}}
		}, want: []wantErr{{"spec.analysis.webhooks[0].type", notSupported}}},
		{name: "webhook without url and with a bad timeout", mutate: func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "load", Timeout: "ten"}}
		}, want: []wantErr{{"spec.analysis.webhooks[0].url", required}, {"spec.analysis.webhooks[0].timeout", invalid}}},
		{name: "webhook with a relative url", mutate: func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "load", URL: "/hook"}}
		}, want: []wantErr{{"spec.analysis.webhooks[0].url", invalid}}},
		{name: "duplicate webhook", mutate: func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "load", URL: "http://a/"}, {Name: "load", URL: "http://b/"}}
		}, want: []wantErr{{"spec.analysis.webhooks[1].name", duplicate}}},
		{name: "alert without provider and with unknown severity", mutate: func(c *Canary) {
			c.Spec.Analysis.Alerts = []CanaryAlert{{Name: "on-call", Severity: "fatal"}}
		}, want: []wantErr{{"spec.analysis.alerts[0].providerRef.name", required}, {"spec.analysis.alerts[0].severity", notSupported}}},
		{name: "session affinity without cookie", mutate: func(c *Canary) { c.Spec.Analysis.SessionAffinity = &SessionAffinity{MaxAge: -1} },
			want: []wantErr{{"spec.analysis.sessionAffinity.cookieName", required}, {"spec.analysis.sessionAffinity.maxAge", invalid}}},
		{name: "sequential judge", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Alpha: ptr(0.05), EvaluationInterval: "2s"}
		}},
		{name: "unknown judge", mutate: func(c *Canary) { c.Spec.Analysis.Judge = &JudgeSpec{Type: "bayes"} },
			want: []wantErr{{"spec.analysis.judge.type", notSupported}}},
		{name: "judge alpha out of range", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Alpha: ptr(0.5)}
		}, want: []wantErr{{"spec.analysis.judge.alpha", invalid}}},
		{name: "judge alpha zero", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Alpha: ptr(0.0)}
		}, want: []wantErr{{"spec.analysis.judge.alpha", invalid}}},
		{name: "judge tolerance below one", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Tolerance: ptr(0.9)}
		}, want: []wantErr{{"spec.analysis.judge.tolerance", invalid}}},
		{name: "judge tolerance", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential, Tolerance: ptr(1.5)}
		}},
		{name: "judge evaluation interval unparsable", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{EvaluationInterval: "often"}
		}, want: []wantErr{{"spec.analysis.judge.evaluationInterval", invalid}}},
		{name: "judge evaluation interval longer than the interval", mutate: func(c *Canary) {
			c.Spec.Analysis.Judge = &JudgeSpec{EvaluationInterval: "30s"}
		}, want: []wantErr{{"spec.analysis.judge.evaluationInterval", invalid}}},
		{name: "every problem at once", mutate: func(c *Canary) {
			c.Spec.TargetRef.Name = ""
			c.Spec.Service.Port = 0
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.Interval = "x"
		}, want: []wantErr{
			{"spec.targetRef.name", required}, {"spec.service.port", required},
			{"spec.analysis.interval", invalid}, {"spec.analysis.stepWeight", invalid},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := walkthroughCanary()
			tt.mutate(c)
			got := errorsOf(ValidateCanary(c, tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("ValidateCanary:\n got %v\nwant %v\nerrors: %v", got, tt.want, ValidateCanary(c, tt.opts))
			}
		})
	}
}

func TestValidateCanaryMessages(t *testing.T) {
	c := walkthroughCanary()
	c.Spec.Analysis.StepWeight = 0
	errs := ValidateCanary(c, ValidationOptions{})
	if len(errs) != 1 {
		t.Fatalf("got %v, want one error", errs)
	}
	if got, want := errs[0].Error(), "spec.analysis.stepWeight: Invalid value: 0: must be between 1 and 100"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateDefaultedCanary(t *testing.T) {
	// Defaults must never make a valid Canary invalid.
	for _, mutate := range []func(*Canary){
		func(*Canary) {},
		func(c *Canary) { c.Spec.Analysis.StepWeight = 0; c.Spec.Analysis.Iterations = 5 },
		func(c *Canary) {
			c.Spec.Analysis.StepWeight = 0
			c.Spec.Analysis.MaxWeight = 0
			c.Spec.Analysis.StepWeights = []int{5, 50}
		},
		func(c *Canary) {
			c.Spec.Analysis.Webhooks = []CanaryWebhook{{Name: "w", URL: "http://x/"}}
			c.Spec.Analysis.SessionAffinity = &SessionAffinity{CookieName: "canary"}
			c.Spec.Analysis.Judge = &JudgeSpec{Type: JudgeSequential}
		},
	} {
		c := walkthroughCanary()
		mutate(c)
		if errs := ValidateCanary(c, ValidationOptions{}); len(errs) > 0 {
			t.Fatalf("before Default: %v", errs)
		}
		c.Default()
		if errs := ValidateCanary(c, ValidationOptions{}); len(errs) > 0 {
			t.Errorf("after Default: %v", errs)
		}
	}
}

func TestValidateMetricTemplate(t *testing.T) {
	valid := func() *MetricTemplate {
		return &MetricTemplate{
			ObjectMeta: objectMeta("error-rate", "test"),
			Spec: MetricTemplateSpec{
				Provider: MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus.linkerd-viz:9090"},
				Query: `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",` +
					`classification="failure",direction="inbound"}[{{ interval }}])) / {{ variables.total }}`,
			},
		}
	}
	provider := func(p MetricTemplateProvider, query string) func(*MetricTemplate) {
		return func(m *MetricTemplate) { m.Spec.Provider, m.Spec.Query = p, query }
	}
	secret := &LocalSecretReference{Name: "creds"}
	tests := []struct {
		name   string
		mutate func(*MetricTemplate)
		opts   ValidationOptions
		want   []wantErr
	}{
		{name: "valid", mutate: func(*MetricTemplate) {}},
		{name: "route variable", mutate: func(m *MetricTemplate) { m.Spec.Query = `x{route="{{ route }}"}` }},
		{name: "graphite", mutate: provider(MetricTemplateProvider{Type: "graphite", Address: "http://graphite"}, "target=x")},
		{name: "graphite without address", mutate: provider(MetricTemplateProvider{Type: "graphite"}, "target=x"),
			want: []wantErr{{"spec.provider.address", field.ErrorTypeRequired}}},
		{name: "influxdb without address", mutate: provider(MetricTemplateProvider{Type: "influxdb", SecretRef: secret}, "from(bucket: \"b\")"),
			want: []wantErr{{"spec.provider.address", field.ErrorTypeRequired}}},
		{name: "datadog", mutate: provider(MetricTemplateProvider{Type: "datadog", SecretRef: secret}, "avg:x{*}")},
		{name: "datadog without secret", mutate: provider(MetricTemplateProvider{Type: "datadog"}, "avg:x{*}"),
			want: []wantErr{{"spec.provider.secretRef", field.ErrorTypeRequired}}},
		{name: "newrelic without secret", mutate: provider(MetricTemplateProvider{Type: "newrelic"}, "SELECT 1"),
			want: []wantErr{{"spec.provider.secretRef", field.ErrorTypeRequired}}},
		{name: "stackdriver without secret", mutate: provider(MetricTemplateProvider{Type: "stackdriver"}, "fetch x"),
			want: []wantErr{{"spec.provider.secretRef", field.ErrorTypeRequired}}},
		{name: "dynatrace without address or secret", mutate: provider(MetricTemplateProvider{Type: "dynatrace"}, "builtin:x"),
			want: []wantErr{{"spec.provider.address", field.ErrorTypeRequired}, {"spec.provider.secretRef", field.ErrorTypeRequired}}},
		{name: "splunk without address or secret", mutate: provider(MetricTemplateProvider{Type: "splunk"}, "data('x').publish()"),
			want: []wantErr{{"spec.provider.address", field.ErrorTypeRequired}, {"spec.provider.secretRef", field.ErrorTypeRequired}}},
		{name: "cloudwatch", mutate: provider(MetricTemplateProvider{Type: "cloudwatch", Region: "eu-west-1"}, "[]")},
		{name: "cloudwatch without region", mutate: provider(MetricTemplateProvider{Type: "cloudwatch"}, "[]"),
			want: []wantErr{{"spec.provider.region", field.ErrorTypeRequired}}},
		{name: "keptn", mutate: provider(MetricTemplateProvider{Type: "keptn"}, "analysis/{{ namespace }}/slo/5m/workload={{ target }}")},
		{name: "keptn query of another kind", mutate: provider(MetricTemplateProvider{Type: "keptn"}, "keptnmetricz/test/x"),
			want: []wantErr{{"spec.query", field.ErrorTypeInvalid}}},
		{name: "keptn without a cluster", mutate: provider(MetricTemplateProvider{Type: "keptn"}, "keptnmetric/test/x"), opts: ValidationOptions{NoCluster: true},
			want: []wantErr{{"spec.provider.type", field.ErrorTypeInvalid}}},
		{name: "externalmetrics", mutate: provider(MetricTemplateProvider{Type: "externalmetrics"}, "test/x")},
		{name: "externalmetrics without a cluster", mutate: provider(MetricTemplateProvider{Type: "externalmetrics"}, "test/x"), opts: ValidationOptions{NoCluster: true},
			want: []wantErr{{"spec.provider.type", field.ErrorTypeInvalid}}},
		{name: "a secret without a cluster", mutate: provider(MetricTemplateProvider{Type: "datadog", SecretRef: secret}, "avg:x{*}"), opts: ValidationOptions{NoCluster: true},
			want: []wantErr{{"spec.provider.secretRef.name", field.ErrorTypeInvalid}}},
		{name: "externalmetrics at an address without a cluster", opts: ValidationOptions{NoCluster: true},
			mutate: provider(MetricTemplateProvider{Type: "externalmetrics", Address: "https://keda:6443"}, "test/x")},
		{name: "a Flagger type serin does not run", mutate: provider(MetricTemplateProvider{Type: "skywalking", Address: "http://oap:12800"}, "query {}"),
			want: []wantErr{{"spec.provider.type", field.ErrorTypeNotSupported}}},
		// No runtime runs a template of type serin: validate refuses it too.
		{name: "serin provider", mutate: func(m *MetricTemplate) { m.Spec.Provider = MetricTemplateProvider{Type: "serin"} },
			want: []wantErr{{"spec.provider.type", field.ErrorTypeNotSupported}}},
		{name: "missing provider type", mutate: func(m *MetricTemplate) { m.Spec.Provider.Type = "" },
			want: []wantErr{{"spec.provider.type", field.ErrorTypeRequired}}},
		{name: "unknown provider type", mutate: func(m *MetricTemplate) { m.Spec.Provider.Type = "graphana" },
			want: []wantErr{{"spec.provider.type", field.ErrorTypeNotSupported}}},
		{name: "bad address", mutate: func(m *MetricTemplate) { m.Spec.Provider.Address = "prometheus" },
			want: []wantErr{{"spec.provider.address", field.ErrorTypeInvalid}}},
		{name: "secretRef without name", mutate: func(m *MetricTemplate) { m.Spec.Provider.SecretRef = &LocalSecretReference{} },
			want: []wantErr{{"spec.provider.secretRef.name", field.ErrorTypeRequired}}},
		{name: "missing query", mutate: func(m *MetricTemplate) { m.Spec.Query = "" },
			want: []wantErr{{"spec.query", field.ErrorTypeRequired}}},
		{name: "query that does not parse", mutate: func(m *MetricTemplate) { m.Spec.Query = "sum({{ namespace }" },
			want: []wantErr{{"spec.query", field.ErrorTypeInvalid}}},
		{name: "query calling an unknown function", mutate: func(m *MetricTemplate) { m.Spec.Query = "{{ deployment }}" },
			want: []wantErr{{"spec.query", field.ErrorTypeInvalid}}},
		{name: "missing name", mutate: func(m *MetricTemplate) { m.Name = "" },
			want: []wantErr{{"metadata.name", field.ErrorTypeRequired}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.mutate(m)
			if got := errorsOf(ValidateMetricTemplate(m, tt.opts)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v (%v)", got, tt.want, ValidateMetricTemplate(m, tt.opts))
			}
		})
	}
}

func TestValidateAlertProvider(t *testing.T) {
	tests := []struct {
		name string
		spec AlertProviderSpec
		want []wantErr
	}{
		{name: "slack with address", spec: AlertProviderSpec{Type: "slack", Channel: "releases", Address: "https://hooks.slack.com/services/x"}},
		{name: "msteams with secret", spec: AlertProviderSpec{Type: "msteams", SecretRef: &LocalSecretReference{Name: "teams"}}},
		{name: "missing type", spec: AlertProviderSpec{Address: "https://x/"},
			want: []wantErr{{"spec.type", field.ErrorTypeRequired}}},
		{name: "unknown type", spec: AlertProviderSpec{Type: "pager", Address: "https://x/"},
			want: []wantErr{{"spec.type", field.ErrorTypeNotSupported}}},
		{name: "no address or secret", spec: AlertProviderSpec{Type: "slack"},
			want: []wantErr{{"spec.address", field.ErrorTypeRequired}}},
		{name: "bad address and proxy", spec: AlertProviderSpec{Type: "slack", Address: "hooks", Proxy: "::"},
			want: []wantErr{{"spec.address", field.ErrorTypeInvalid}, {"spec.proxy", field.ErrorTypeInvalid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &AlertProvider{ObjectMeta: objectMeta("on-call", "test"), Spec: tt.spec}
			if got := errorsOf(ValidateAlertProvider(p)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v (%v)", got, tt.want, ValidateAlertProvider(p))
			}
		})
	}
}

func TestValidateNotSupportedListsValues(t *testing.T) {
	c := walkthroughCanary()
	c.Spec.Provider = "istio"
	errs := ValidateCanary(c, ValidationOptions{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `"gatewayapi:v1"`) {
		t.Errorf("got %v, want the supported providers listed", errs)
	}
}
