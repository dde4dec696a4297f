package kube

import (
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/serinhq/serin/api/v1beta1"
)

// Admission is the check the controller makes of a Canary before it ticks
// it: the Canary is refused (an InvalidSpec Warning event, no tick) when
// Check returns errors, and its warnings are posted once per generation.
// serin validate makes the same check through v1beta1.ValidateCanary and
// v1beta1.CanaryWarnings; the test of a corpus of Flagger-shaped Canaries
// holds the two to agreeing.
type Admission struct {
	// MinInterval is the shortest analysis interval accepted.
	MinInterval time.Duration
	// DefaultProvider is what an empty spec.provider means (--mesh-provider).
	DefaultProvider string
	// NoCrossNamespaceRefs refuses references to MetricTemplates or
	// AlertProviders in another namespace.
	NoCrossNamespaceRefs bool
}

// Check returns the errors and the warnings of c, as serin validate
// prints them. The controller posts the warnings of a Canary it accepts.
func (a Admission) Check(c *v1beta1.Canary) (field.ErrorList, []v1beta1.Warning) {
	opts := v1beta1.ValidationOptions{MinInterval: a.MinInterval, DefaultProvider: a.DefaultProvider}
	errs := v1beta1.ValidateCanary(c, opts)
	if a.NoCrossNamespaceRefs {
		errs = append(errs, crossNamespaceRefs(c)...)
	}
	return errs, v1beta1.CanaryWarnings(c, opts)
}
