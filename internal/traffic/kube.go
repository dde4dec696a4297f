package traffic

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/traffic/gatewayapi"
	"github.com/serinhq/serin/internal/traffic/smi"
)

// Providers lists the provider names ForProvider accepts ("" is the
// default, linkerd).
func Providers() []string {
	return []string{"", "linkerd", "smi", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "gatewayapi", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes"}
}

// ForProvider returns the router for a provider name (see the package
// documentation), writing through c. An unknown name is an error that
// names the accepted ones; there is no fallback.
func ForProvider(provider string, c client.Client) (engine.Router, error) {
	switch provider {
	case "", "linkerd", "smi", "smi:v1alpha1":
		return smi.NewRouter(c, smi.V1Alpha1)
	case "smi:v1alpha2":
		return smi.NewRouter(c, smi.V1Alpha2)
	case "smi:v1alpha3":
		return smi.NewRouter(c, smi.V1Alpha3)
	case "gatewayapi", "gatewayapi:v1":
		return gatewayapi.NewRouter(c, gatewayapi.V1)
	case "gatewayapi:v1beta1":
		return gatewayapi.NewRouter(c, gatewayapi.V1Beta1)
	case "kubernetes":
		return KubernetesRouter{}, nil
	default:
		return nil, fmt.Errorf("unknown traffic provider %q: want %s, or empty for linkerd", provider, strings.Join(Providers()[1:], ", "))
	}
}

// AddToScheme registers the kinds of every router with s: SMI
// TrafficSplit v1alpha1 and v1alpha2, and Gateway API v1 and v1beta1.
func AddToScheme(s *runtime.Scheme) error {
	if err := smi.AddToScheme(s); err != nil {
		return fmt.Errorf("register SMI kinds: %w", err)
	}
	if err := gatewayapi.AddToScheme(s); err != nil {
		return fmt.Errorf("register Gateway API kinds: %w", err)
	}
	return nil
}

// KubernetesRouter is the router of the "kubernetes" provider, Flagger's
// blue/green without a mesh: there is no traffic split to set. The apex
// Service selects the primary throughout (the workload adapter points it
// there), the canary gets only what is sent to <svc>-canary, and at
// promotion the primary is updated in place.
type KubernetesRouter struct{}

var _ engine.Router = KubernetesRouter{}

// SetRoutes implements engine.Router: there is nothing to set.
func (KubernetesRouter) SetRoutes(context.Context, *v1beta1.Canary, rollout.Routes) error { return nil }
