package v1beta1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Warning is something a Canary asks for that serin accepts, as Flagger
// does, but that is likely not what its author meant: a field that has no
// effect, or a value read in a way that may surprise.
type Warning struct {
	// Field is the field path, e.g. "spec.analysis.maxWeight".
	Field   string
	Message string
}

// String returns "field: message".
func (w Warning) String() string { return w.Field + ": " + w.Message }

// Warnings phrases every warning as "field: message", separated by "; ".
func Warnings(ws []Warning) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, "; ")
}

// DrivenMeshes says what serin routes traffic with, for warnings and
// errors about other meshes.
const DrivenMeshes = "serin drives Linkerd (SMI TrafficSplit), Gateway API HTTPRoutes and plain Kubernetes (blue/green)"

// CanaryWarnings returns the warnings of a Canary. serin validate prints
// them, and the controller posts those of a Canary ValidateCanary accepts
// as one Warning event per generation; neither refuses the Canary for
// them. opts.DefaultProvider is the provider an empty spec.provider
// means; when it is empty too, warnings that depend on the provider are
// left out for Canaries without spec.provider.
func CanaryWarnings(c *Canary, opts ValidationOptions) []Warning {
	var ws []Warning
	warn := func(p *field.Path, format string, args ...any) {
		ws = append(ws, Warning{Field: p.String(), Message: fmt.Sprintf(format, args...)})
	}
	spec := field.NewPath("spec")
	sp := spec.Child("service")
	s := &c.Spec.Service

	// Fields of Flagger's other meshes and ingresses, which nothing reads.
	other := func(p *field.Path, set bool, mesh string) {
		if set {
			warn(p, "has no effect: serin's routers do not read it (Flagger reads it for %s); %s", mesh, DrivenMeshes)
		}
	}
	other(sp.Child("gateways"), len(s.Gateways) > 0, "Istio")
	other(sp.Child("delegation"), s.Delegation, "Istio")
	other(sp.Child("trafficPolicy"), s.TrafficPolicy != nil, "Istio")
	other(sp.Child("rewrite"), s.Rewrite != nil, "Istio")
	other(sp.Child("retries"), s.Retries != nil, "Istio")
	other(sp.Child("headers"), s.Headers != nil, "Istio")
	other(sp.Child("corsPolicy"), s.CorsPolicy != nil, "Istio")
	other(sp.Child("match"), len(s.Match) > 0, "Istio")
	other(sp.Child("meshName"), s.MeshName != "", "App Mesh")
	other(sp.Child("backends"), len(s.Backends) > 0, "App Mesh")
	other(spec.Child("ingressRef"), c.Spec.IngressRef != nil, "NGINX ingress")
	other(spec.Child("upstreamRef"), c.Spec.UpstreamRef != nil, "Gloo")
	other(spec.Child("routeRef"), c.Spec.RouteRef != nil, "APISIX")

	if r := c.Spec.AutoscalerRef; r != nil && len(r.PrimaryScalerQueries) > 0 {
		warn(spec.Child("autoscalerRef", "primaryScalerQueries"), "has no effect: it configures the primary's KEDA ScaledObject, and serin copies HorizontalPodAutoscalers")
	}

	// The local runtime routes every Canary through its proxy, whatever
	// spec.provider says.
	provider, where := c.Spec.Provider, ""
	switch {
	case opts.NoCluster:
		provider, where = "serin", "in the local runtime"
	case provider == "":
		provider = opts.DefaultProvider
	}
	if where == "" {
		where = fmt.Sprintf("with provider %q", provider)
	}
	gateway := strings.HasPrefix(provider, "gatewayapi")
	if provider != "" && !gateway {
		onlyGateway := func(p *field.Path, set bool) {
			if set {
				warn(p, "has no effect %s: only the Gateway API router carries it", where)
			}
		}
		onlyGateway(sp.Child("backendTimeout"), s.BackendTimeout != "")
		onlyGateway(sp.Child("mirror"), len(s.Mirror) > 0)
		onlyGateway(sp.Child("gatewayRefs"), len(s.GatewayRefs) > 0)
		if len(s.Hosts) > 0 {
			warn(sp.Child("hosts"), "has no effect %s: only the Gateway API router carries hosts (as the HTTPRoute's hostnames)", where)
		}
	} else if gateway && len(s.Hosts) > 0 && len(s.GatewayRefs) == 0 {
		warn(sp.Child("hosts"), "has no effect without gatewayRefs: a mesh route has no hostnames")
	}

	a := c.Spec.Analysis
	if a == nil {
		return ws
	}
	ap := spec.Child("analysis")
	if len(a.StepWeights) > 0 {
		if a.StepWeight != 0 {
			warn(ap.Child("stepWeight"), "has no effect: stepWeights are set and win, as in Flagger")
		}
		if last := a.StepWeights[len(a.StepWeights)-1]; a.MaxWeight > 0 && last > a.MaxWeight {
			warn(ap.Child("maxWeight"), "has no effect: stepWeights go up to %d and win, as in Flagger", last)
		}
	}
	for i, m := range a.Metrics {
		if _, spelled, err := ParseMetricInterval(m.Interval); err == nil && spelled {
			warn(ap.Child("metrics").Index(i).Child("interval"), "%q is read as %s: Prometheus reads only the short units (s, m, h)", m.Interval, FormatInterval(m.IntervalDuration()))
		}
	}
	for i, w := range a.Webhooks {
		if w.DisableTLS && strings.HasPrefix(strings.ToLower(w.URL), "http://") {
			warn(ap.Child("webhooks").Index(i).Child("disableTLS"), "has no effect: the url is plain http")
		}
	}
	if sa := a.SessionAffinity; sa != nil {
		sap := ap.Child("sessionAffinity")
		if sa.SameSite == "None" && !sa.Secure {
			warn(sap.Child("sameSite"), "browsers drop a SameSite=None cookie that is not secure: set secure: true")
		}
		if gateway && sa.PrimaryCookieName != "" {
			warn(sap.Child("primaryCookieName"), "has no effect with the Gateway API router: only clients sent to the canary are pinned (cookieName)")
		}
		if provider != "" && !gateway && provider != "serin" {
			warn(sap, "has no effect %s: session affinity needs the Gateway API router (or the local proxy)", where)
		}
	}
	if provider != "" && !gateway && provider != "serin" && a.Mirror {
		warn(ap.Child("mirror"), "has no effect %s: mirroring needs the Gateway API router (or the local proxy)", where)
	}
	if provider == "kubernetes" {
		if len(a.Match) > 0 {
			warn(ap.Child("match"), "has no effect with provider \"kubernetes\": A/B testing needs a router")
		}
		if a.Iterations < 1 && !c.Spec.SkipAnalysis {
			warn(ap.Child("iterations"), "unset with provider \"kubernetes\": every release is blue/green there, and runs %d iterations, as in Flagger", KubernetesBlueGreenIterations)
		}
	}
	return ws
}

// KubernetesBlueGreenIterations is how many iterations a Canary of the
// kubernetes provider without iterations runs, as in Flagger.
const KubernetesBlueGreenIterations = 10
