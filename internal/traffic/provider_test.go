package traffic_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/serinhq/serin/internal/traffic"
	"github.com/serinhq/serin/internal/traffic/gatewayapi"
	"github.com/serinhq/serin/internal/traffic/smi"
)

func TestForProvider(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := traffic.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).Build()
	tests := []struct {
		provider string
		smi      smi.Version // "" for Gateway API
		gateway  gatewayapi.Version
	}{
		{"", smi.V1Alpha1, ""},
		{"linkerd", smi.V1Alpha1, ""},
		{"smi", smi.V1Alpha1, ""},
		{"smi:v1alpha1", smi.V1Alpha1, ""},
		{"smi:v1alpha2", smi.V1Alpha2, ""},
		{"smi:v1alpha3", smi.V1Alpha3, ""},
		{"gatewayapi", "", gatewayapi.V1},
		{"gatewayapi:v1", "", gatewayapi.V1},
		{"gatewayapi:v1beta1", "", gatewayapi.V1Beta1},
		{"kubernetes", "", ""},
	}
	for _, tt := range tests {
		r, err := traffic.ForProvider(tt.provider, cl)
		if err != nil {
			t.Errorf("ForProvider(%q): %v", tt.provider, err)
			continue
		}
		switch r := r.(type) {
		case *smi.Router:
			if r.Version() != tt.smi {
				t.Errorf("ForProvider(%q) = SMI %s, want SMI %s", tt.provider, r.Version(), tt.smi)
			}
		case *gatewayapi.Router:
			if tt.smi != "" || r.Version() != tt.gateway {
				t.Errorf("ForProvider(%q) = Gateway API %s, want SMI %q / Gateway API %q", tt.provider, r.Version(), tt.smi, tt.gateway)
			}
		case traffic.KubernetesRouter:
			if tt.provider != "kubernetes" {
				t.Errorf("ForProvider(%q) = the kubernetes router", tt.provider)
			}
		default:
			t.Errorf("ForProvider(%q) = %T", tt.provider, r)
		}
	}
}

func TestForProviderErrors(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := traffic.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).Build()
	for _, p := range []string{"istio", "smi:v1alpha4", "gatewayapi:v1alpha2", "Linkerd", "serin"} {
		_, err := traffic.ForProvider(p, cl)
		if err == nil {
			t.Errorf("ForProvider(%q) succeeded, want an error", p)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `"`+p+`"`) || !strings.Contains(msg, "smi:v1alpha2") || !strings.Contains(msg, "gatewayapi:v1") {
			t.Errorf("ForProvider(%q) error %q does not name the provider and the accepted values", p, msg)
		}
	}

	// A client whose scheme lacks the kinds is refused up front.
	bare := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).Build()
	for _, p := range []string{"linkerd", "smi:v1alpha2", "gatewayapi"} {
		if _, err := traffic.ForProvider(p, bare); err == nil || !strings.Contains(err.Error(), "AddToScheme") {
			t.Errorf("ForProvider(%q) with a bare scheme: err = %v, want one pointing at AddToScheme", p, err)
		}
	}
}
