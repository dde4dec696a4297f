package v1beta1

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The shortest analysis intervals the runtimes accept.
const (
	// MinIntervalKubernetes is Flagger's minimum, kept on Kubernetes where
	// every step costs API calls and a Prometheus scrape interval.
	MinIntervalKubernetes = 10 * time.Second
	// MinIntervalLocal is the local runtime's minimum: its proxy records
	// metrics per request, so a step can be as short as a second.
	MinIntervalLocal = time.Second
)

// ValidationOptions tune validation to the runtime that runs the objects.
type ValidationOptions struct {
	// MinInterval is the shortest analysis interval allowed. Zero means
	// MinIntervalKubernetes.
	MinInterval time.Duration
	// NoCluster: the objects run without a Kubernetes cluster (the local
	// runtime), so MetricTemplates whose provider reads a cluster's
	// objects (keptn, externalmetrics without an address) are refused.
	NoCluster bool
	// DefaultProvider is what an empty spec.provider means (the
	// controller's --mesh-provider). Empty: unknown, as for serin
	// validate, which then leaves out the warnings that depend on it.
	DefaultProvider string
}

func (o ValidationOptions) minInterval() time.Duration {
	if o.MinInterval <= 0 {
		return MinIntervalKubernetes
	}
	return o.MinInterval
}

// providers lists the values of spec.provider serin routes traffic with.
// Empty means the runtime's default router.
func providers() []string {
	return []string{
		"", "linkerd", "smi", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3",
		"gatewayapi", "gatewayapi:v1", "gatewayapi:v1beta1", "serin", "kubernetes",
	}
}

// otherMeshes lists the spec.provider values of Flagger's other meshes and
// ingresses, which serin does not drive.
func otherMeshes() []string {
	return []string{"istio", "appmesh", "appmesh:v1beta2", "contour", "nginx", "gloo", "skipper",
		"traefik", "osm", "kuma", "apisix", "knative", "supergloo"}
}

// trafficDistributions lists the values of service.trafficDistribution.
func trafficDistributions() []string {
	return []string{"", "PreferClose", "PreferSameZone", "PreferSameNode"}
}

// sameSites lists the values of sessionAffinity.sameSite.
func sameSites() []string { return []string{"", "Strict", "Lax", "None"} }

// UnsupportedAutoscaler is why a Canary whose autoscalerRef is not a
// HorizontalPodAutoscaler (a KEDA ScaledObject) is refused, by validation
// and by the controller alike.
const UnsupportedAutoscaler = "only HorizontalPodAutoscaler is supported: serin does not copy KEDA ScaledObjects for the primary; remove autoscalerRef or use an HPA"

// DaemonSetAutoscaler is why a DaemonSet target with an autoscalerRef is
// refused, by validation and by the controller alike.
const DaemonSetAutoscaler = "a DaemonSet runs one pod per node and has no autoscaler: remove autoscalerRef"

// LocalDaemonSet is why the local runtime refuses a DaemonSet target.
const LocalDaemonSet = "DaemonSet targets run only under serin controller: the local runtime runs Deployments"

// alertSeverities lists the values of an alert's severity.
func alertSeverities() []string { return []string{"", "info", "warn", "error"} }

// judgeTypes lists the values of analysis.judge.type.
func judgeTypes() []string { return []string{"", JudgeThreshold, JudgeSequential} }

// ValidateCanary returns every problem of c, each with its field path. It
// checks c as written: unset fields are valid where they have a default.
// The details of Invalid errors are phrased to be followed by the value
// (", got 0").
func ValidateCanary(c *Canary, opts ValidationOptions) field.ErrorList {
	errs := validateObjectMeta(c.Name, c.Namespace, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	s := &c.Spec

	switch p := providers(); {
	case slices.Contains(otherMeshes(), s.Provider):
		var quoted []string
		for _, v := range p[1:] {
			if v != "serin" || opts.NoCluster { // the local proxy runs only locally
				quoted = append(quoted, strconv.Quote(v))
			}
		}
		errs = append(errs, field.Invalid(spec.Child("provider"), s.Provider, fmt.Sprintf(
			"another mesh's or ingress's provider: serin drives Linkerd (SMI TrafficSplit), Gateway API HTTPRoutes and plain Kubernetes (blue/green), so its fields for other meshes have no effect; want one of %s",
			strings.Join(quoted, ", "))))
	case !slices.Contains(p, s.Provider):
		errs = append(errs, field.NotSupported(spec.Child("provider"), s.Provider, p[1:]))
	case s.Provider == "serin" && !opts.NoCluster:
		errs = append(errs, field.Invalid(spec.Child("provider"), s.Provider,
			"serin is the local runtime's proxy, which serin controller does not drive: on a cluster use linkerd, smi:v1alpha1|2|3, gatewayapi:v1|v1beta1 or kubernetes"))
	}
	if s.MetricsServer != "" {
		errs = append(errs, validateURL(s.MetricsServer, spec.Child("metricsServer"))...)
	}
	errs = append(errs, validateTargetRef(&s.TargetRef, spec.Child("targetRef"))...)
	if s.TargetRef.Kind == "DaemonSet" {
		if opts.NoCluster {
			errs = append(errs, field.Invalid(spec.Child("targetRef", "kind"), s.TargetRef.Kind, LocalDaemonSet))
		}
		if s.AutoscalerRef != nil {
			errs = append(errs, field.Forbidden(spec.Child("autoscalerRef"), DaemonSetAutoscaler))
		}
	}
	if r := s.AutoscalerRef; r != nil {
		if r.Name == "" {
			errs = append(errs, field.Required(spec.Child("autoscalerRef", "name"), ""))
		}
		if r.Kind != "" && r.Kind != "HorizontalPodAutoscaler" {
			errs = append(errs, field.Invalid(spec.Child("autoscalerRef", "kind"), r.Kind, UnsupportedAutoscaler))
		}
		if pr := r.PrimaryScalerReplicas; pr != nil {
			rp := spec.Child("autoscalerRef", "primaryScalerReplicas")
			for _, b := range []struct {
				name string
				v    *int32
			}{{"minReplicas", pr.MinReplicas}, {"maxReplicas", pr.MaxReplicas}} {
				if b.v != nil && *b.v < 1 {
					errs = append(errs, field.Invalid(rp.Child(b.name), *b.v, "must be at least 1"))
				}
			}
			if pr.MinReplicas != nil && pr.MaxReplicas != nil && *pr.MinReplicas > *pr.MaxReplicas {
				errs = append(errs, field.Invalid(rp.Child("minReplicas"), *pr.MinReplicas, fmt.Sprintf("must not exceed maxReplicas (%d)", *pr.MaxReplicas)))
			}
		}
	}
	errs = append(errs, validateService(&s.Service, spec.Child("service"))...)
	if p := s.ProgressDeadlineSeconds; p != nil && *p < 1 {
		errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be at least 1"))
	}
	switch {
	case s.Analysis != nil:
		errs = append(errs, validateAnalysis(s.Analysis, s.SkipAnalysis, opts, spec.Child("analysis"))...)
	case !s.SkipAnalysis:
		errs = append(errs, field.Required(spec.Child("analysis"), "required unless skipAnalysis is true"))
	}
	return errs
}

func validateObjectMeta(name, namespace string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
	}
	if namespace != "" {
		for _, msg := range validation.IsDNS1123Label(namespace) {
			errs = append(errs, field.Invalid(p.Child("namespace"), namespace, msg))
		}
	}
	return errs
}

func validateTargetRef(r *LocalObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch r.Kind {
	case "", "Deployment", "DaemonSet":
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), r.Kind, []string{"Deployment", "DaemonSet"}))
	}
	if r.APIVersion != "" && r.APIVersion != "apps/v1" {
		errs = append(errs, field.NotSupported(p.Child("apiVersion"), r.APIVersion, []string{"apps/v1"}))
	}
	return errs
}

func validateService(s *CanaryService, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case s.Port == 0:
		errs = append(errs, field.Required(p.Child("port"), ""))
	case s.Port < 1 || s.Port > 65535:
		errs = append(errs, field.Invalid(p.Child("port"), s.Port, "must be between 1 and 65535"))
	}
	if s.Name != "" {
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
		}
	}
	switch tp := s.TargetPort; {
	case tp.Type == intstr.Int && (tp.IntVal < 0 || tp.IntVal > 65535):
		errs = append(errs, field.Invalid(p.Child("targetPort"), tp.IntVal, "must be between 1 and 65535"))
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, msg := range validation.IsValidPortName(tp.StrVal) {
			errs = append(errs, field.Invalid(p.Child("targetPort"), tp.StrVal, msg))
		}
	}
	errs = append(errs, validateRouteTimeouts(s, p)...)
	if td := trafficDistributions(); !slices.Contains(td, s.TrafficDistribution) {
		errs = append(errs, field.NotSupported(p.Child("trafficDistribution"), s.TrafficDistribution, td[1:]))
	}
	for i, m := range s.Mirror {
		bp := p.Child("mirror").Index(i).Child("backendRef")
		ref := m.BackendRef
		if ref.Name == "" {
			errs = append(errs, field.Required(bp.Child("name"), ""))
		}
		isService := (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
		if isService && ref.Port == nil {
			errs = append(errs, field.Required(bp.Child("port"), "required for a Service"))
		}
		if ref.Port != nil && (*ref.Port < 1 || *ref.Port > 65535) {
			errs = append(errs, field.Invalid(bp.Child("port"), *ref.Port, "must be between 1 and 65535"))
		}
	}
	for i, g := range s.GatewayRefs {
		if g.Name == "" {
			errs = append(errs, field.Required(p.Child("gatewayRefs").Index(i).Child("name"), ""))
		}
	}
	for i := range s.Match {
		errs = append(errs, validateMatch(&s.Match[i], p.Child("match").Index(i))...)
	}
	return errs
}

func validateAnalysis(a *CanaryAnalysis, skip bool, opts ValidationOptions, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a.Interval != "" {
		errs = append(errs, validateDuration(a.Interval, opts.minInterval(), p.Child("interval"))...)
	}
	if a.Threshold < 0 {
		errs = append(errs, field.Invalid(p.Child("threshold"), a.Threshold, "must be at least 1 (0 reads as the default, 1)"))
	}
	errs = append(errs, validateWeights(a, skip, p)...)
	errs = append(errs, validatePercent(a.PrimaryReadyThreshold, p.Child("primaryReadyThreshold"))...)
	errs = append(errs, validatePercent(a.CanaryReadyThreshold, p.Child("canaryReadyThreshold"))...)

	seen := map[string]bool{}
	for i := range a.Metrics {
		mp := p.Child("metrics").Index(i)
		errs = append(errs, validateMetric(&a.Metrics[i], mp)...)
		if n := a.Metrics[i].Name; n != "" {
			if seen[n] {
				errs = append(errs, field.Duplicate(mp.Child("name"), n))
			}
			seen[n] = true
		}
	}
	seen = map[string]bool{}
	for i := range a.Webhooks {
		wp := p.Child("webhooks").Index(i)
		errs = append(errs, validateWebhook(&a.Webhooks[i], wp)...)
		if n := a.Webhooks[i].Name; n != "" {
			if seen[n] {
				errs = append(errs, field.Duplicate(wp.Child("name"), n))
			}
			seen[n] = true
		}
	}
	for i, al := range a.Alerts {
		ap := p.Child("alerts").Index(i)
		if al.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), ""))
		}
		if al.ProviderRef.Name == "" {
			errs = append(errs, field.Required(ap.Child("providerRef", "name"), ""))
		}
		if sv := alertSeverities(); !slices.Contains(sv, al.Severity) {
			errs = append(errs, field.NotSupported(ap.Child("severity"), al.Severity, sv[1:]))
		}
	}
	for i := range a.Match {
		errs = append(errs, validateMatch(&a.Match[i], p.Child("match").Index(i))...)
	}
	if sa := a.SessionAffinity; sa != nil {
		sp := p.Child("sessionAffinity")
		if sa.CookieName == "" {
			errs = append(errs, field.Required(sp.Child("cookieName"), ""))
		}
		if sa.MaxAge < 0 {
			errs = append(errs, field.Invalid(sp.Child("maxAge"), sa.MaxAge, "must not be negative"))
		}
		if ss := sameSites(); !slices.Contains(ss, sa.SameSite) {
			errs = append(errs, field.NotSupported(sp.Child("sameSite"), sa.SameSite, ss[1:]))
		}
		for _, c := range []struct{ name, value string }{{"domain", sa.Domain}, {"path", sa.Path}} {
			if strings.ContainsAny(c.value, ";, \t\r\n") {
				errs = append(errs, field.Invalid(sp.Child(c.name), c.value, "must not contain ';', ',' or white space, which would end the cookie attribute"))
			}
		}
	}
	if a.Judge != nil {
		errs = append(errs, validateJudge(a, p.Child("judge"))...)
	}
	return errs
}

// validateWeights checks the fields that pick the strategy and move the
// traffic.
func validateWeights(a *CanaryAnalysis, skip bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	between := func(name string, v int) {
		if v < 0 || v > 100 {
			errs = append(errs, field.Invalid(p.Child(name), v, "must be between 1 and 100"))
		}
	}
	between("maxWeight", a.MaxWeight)
	between("stepWeight", a.StepWeight)
	between("stepWeightPromotion", a.StepWeightPromotion)
	between("mirrorWeight", a.MirrorWeight)
	if a.Iterations < 0 {
		errs = append(errs, field.Invalid(p.Child("iterations"), a.Iterations, "must not be negative"))
	}

	// stepWeight beside stepWeights, and stepWeights above maxWeight, are
	// accepted as Flagger accepts them (stepWeights win over both); see
	// CanaryWarnings.
	prev := 0
	for i, w := range a.StepWeights {
		wp := p.Child("stepWeights").Index(i)
		switch {
		case w < 1 || w > 100:
			errs = append(errs, field.Invalid(wp, w, "must be between 1 and 100"))
		case w <= prev:
			errs = append(errs, field.Invalid(wp, w, fmt.Sprintf("must be greater than the weight before it (%d)", prev)))
		}
		prev = max(prev, w)
	}
	if len(a.StepWeights) == 0 && a.MaxWeight > 0 && a.StepWeight > a.MaxWeight {
		errs = append(errs, field.Invalid(p.Child("maxWeight"), a.MaxWeight, fmt.Sprintf("must be at least stepWeight (%d)", a.StepWeight)))
	}

	switch {
	case a.Iterations > 0:
		// Blue/green or A/B testing: traffic does not move in steps.
		if a.StepWeight != 0 {
			errs = append(errs, field.Forbidden(p.Child("stepWeight"), "not allowed with iterations: iterations make a blue/green or A/B release, stepWeight a canary release"))
		}
		if len(a.StepWeights) > 0 {
			errs = append(errs, field.Forbidden(p.Child("stepWeights"), "not allowed with iterations: iterations make a blue/green or A/B release, stepWeights a canary release"))
		}
		if a.Mirror && len(a.Match) > 0 {
			errs = append(errs, field.Forbidden(p.Child("mirror"), "not allowed with match: mirroring is a blue/green release, match an A/B release"))
		}
	case len(a.Match) > 0:
		errs = append(errs, field.Required(p.Child("iterations"), "required with match: A/B testing runs for a number of iterations"))
	case !skip && a.StepWeight == 0 && len(a.StepWeights) == 0:
		// A canary release that never moves traffic never finishes.
		errs = append(errs, field.Invalid(p.Child("stepWeight"), a.StepWeight, "must be between 1 and 100"))
	}
	return errs
}

func validatePercent(v *int, p *field.Path) field.ErrorList {
	if v != nil && (*v < 1 || *v > 100) {
		return field.ErrorList{field.Invalid(p, *v, "must be between 1 and 100")}
	}
	return nil
}

func validateMetric(m *CanaryMetric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if m.Interval != "" {
		switch d, _, err := ParseMetricInterval(m.Interval); {
		case err != nil:
			errs = append(errs, field.Invalid(p.Child("interval"), m.Interval, "must be a duration such as 30s or 1m"))
		case d <= 0:
			errs = append(errs, field.Invalid(p.Child("interval"), m.Interval, "must be positive"))
		}
	}
	if r := m.ThresholdRange; r != nil && r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		errs = append(errs, field.Invalid(p.Child("thresholdRange", "min"), *r.Min, fmt.Sprintf("must not exceed max (%g)", *r.Max)))
	}
	switch {
	case m.TemplateRef != nil:
		if m.TemplateRef.Name == "" {
			errs = append(errs, field.Required(p.Child("templateRef", "name"), ""))
		}
	case m.Query != "":
		// Flagger's deprecated inline PromQL, run against spec.metricsServer.
	case m.Name != "" && !IsBuiltinMetric(m.Name):
		detail := fmt.Sprintf("%q is not a built-in metric (%s, %s): name a MetricTemplate", m.Name, MetricRequestSuccessRate, MetricRequestDuration)
		errs = append(errs, field.Required(p.Child("templateRef"), detail))
	}
	return errs
}

func validateWebhook(w *CanaryWebhook, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if w.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if w.Type != "" && !slices.Contains(HookTypes, w.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), w.Type, HookTypes))
	}
	if w.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), ""))
	} else {
		errs = append(errs, validateURL(w.URL, p.Child("url"))...)
	}
	if w.Timeout != "" {
		errs = append(errs, validateDuration(w.Timeout, 0, p.Child("timeout"))...)
	}
	if w.Retries < 0 {
		errs = append(errs, field.Invalid(p.Child("retries"), w.Retries, "must not be negative"))
	}
	return errs
}

func validateJudge(a *CanaryAnalysis, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	j := a.Judge
	if jt := judgeTypes(); !slices.Contains(jt, j.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), j.Type, jt[1:]))
	}
	if j.Alpha != nil && !(*j.Alpha > 0 && *j.Alpha < 0.5) {
		errs = append(errs, field.Invalid(p.Child("alpha"), *j.Alpha, "must be greater than 0 and less than 0.5"))
	}
	if j.Tolerance != nil && !(*j.Tolerance >= 1 && *j.Tolerance <= 10) {
		errs = append(errs, field.Invalid(p.Child("tolerance"), *j.Tolerance, "must be between 1 (the canary no worse than the primary) and 10"))
	}
	if j.EvaluationInterval != "" {
		ep := p.Child("evaluationInterval")
		if d, err := time.ParseDuration(j.EvaluationInterval); err != nil || d <= 0 {
			errs = append(errs, validateDuration(j.EvaluationInterval, 0, ep)...)
		} else if iv := a.IntervalDuration(); d > iv {
			errs = append(errs, field.Invalid(ep, j.EvaluationInterval, fmt.Sprintf("must not exceed the analysis interval (%s)", iv)))
		}
	}
	return errs
}

// validateMatch checks that every string match sets exactly one way of
// matching and that regular expressions compile.
func validateMatch(m *HTTPMatchRequest, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(s *StringMatch, sp *field.Path) {
		if s == nil {
			return
		}
		set := 0
		for _, v := range []string{s.Exact, s.Prefix, s.Suffix, s.Regex} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			errs = append(errs, field.Invalid(sp, set, "must set exactly one of exact, prefix, suffix and regex"))
		}
		if s.Regex != "" {
			if _, err := regexp.Compile(s.Regex); err != nil {
				errs = append(errs, field.Invalid(sp.Child("regex"), s.Regex, "must be a valid regular expression: "+err.Error()))
			}
		}
	}
	check(m.URI, p.Child("uri"))
	check(m.Scheme, p.Child("scheme"))
	check(m.Method, p.Child("method"))
	check(m.Authority, p.Child("authority"))
	for _, k := range sortedKeys(m.Headers) {
		s := m.Headers[k]
		check(&s, p.Child("headers").Key(k))
	}
	for _, k := range sortedKeys(m.QueryParams) {
		s := m.QueryParams[k]
		check(&s, p.Child("queryParams").Key(k))
	}
	for _, k := range sortedKeys(m.WithoutHeaders) {
		s := m.WithoutHeaders[k]
		check(&s, p.Child("withoutHeaders").Key(k))
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validateDuration checks that s parses as a positive duration of at least
// minimum.
func validateDuration(s string, minimum time.Duration, p *field.Path) field.ErrorList {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, s, "must be a duration such as 30s or 1m")}
	case d <= 0:
		return field.ErrorList{field.Invalid(p, s, "must be positive")}
	case d < minimum:
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must be at least %s", minimum))}
	}
	return nil
}

// routeDuration is the form of a Gateway API duration (GEP-2257), which
// the HTTPRoute's timeouts take: up to four parts of h, m, s or ms.
var routeDuration = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// validateRouteTimeouts checks service.timeout and backendTimeout as the
// Gateway API's HTTPRoute schema does, so that a route serin writes is one
// the API server takes: Gateway API durations, the backend's no longer
// than the request's.
func validateRouteTimeouts(s *CanaryService, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	parsed := map[string]time.Duration{}
	for _, t := range []struct{ name, value string }{{"timeout", s.Timeout}, {"backendTimeout", s.BackendTimeout}} {
		if t.value == "" {
			continue
		}
		if e := validateDuration(t.value, 0, p.Child(t.name)); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		if !routeDuration.MatchString(t.value) {
			errs = append(errs, field.Invalid(p.Child(t.name), t.value, "must be a Gateway API duration: up to four parts of whole h, m, s or ms, such as 30s or 1m30s"))
			continue
		}
		parsed[t.name], _ = time.ParseDuration(t.value)
	}
	if r, ok := parsed["timeout"]; ok {
		if b, ok := parsed["backendTimeout"]; ok && b > r {
			errs = append(errs, field.Invalid(p.Child("backendTimeout"), s.BackendTimeout, fmt.Sprintf("must not exceed timeout (%s)", s.Timeout)))
		}
	}
	return errs
}

// validateURL checks that s is an absolute http or https URL.
func validateURL(s string, p *field.Path) field.ErrorList {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, s, "must be an absolute http or https URL")}
	}
	return nil
}
