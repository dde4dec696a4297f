package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/metrics"
	"github.com/serinhq/serin/internal/rollout"
	"github.com/serinhq/serin/internal/traffic"
	workload "github.com/serinhq/serin/internal/workload/kube"
)

// routerSchemes are the kinds the routers write.
func routerSchemes() []func(*runtime.Scheme) error {
	return []func(*runtime.Scheme) error{traffic.AddToScheme}
}

// newEngines returns the engines of the controller, one per traffic
// provider, built on first use, and their notifier to drain when the
// controller stops. The workload, metric source, webhooks and notifier
// are shared; the metric source reaches the cluster through c
// and cfg for the keptn and externalmetrics providers. They run the
// Canaries of group, whose MetricTemplates and AlertProviders are of that
// group too.
func newEngines(c client.Client, cfg *rest.Config, o Options, group string) (Engines, engine.Drainer, error) {
	src := o.Source
	if src == nil {
		src = metrics.New(metrics.Options{
			MetricsServer: o.MetricsServer,
			Templates:     groupTemplates(c, group),
			Secrets:       secretLookup(c),
			Kube:          c,
			KubeConfig:    cfg,
			Now:           o.Now,
			Transport:     o.Transport,
		})
	}
	if _, err := traffic.ForProvider(o.MeshProvider, c); err != nil {
		return nil, nil, fmt.Errorf("mesh provider: %w", err)
	}
	w := newWorkload(c, o)
	hooks, notifier := newHooksAndNotifier(c, o, group)
	var (
		mu      sync.Mutex
		engines = map[string]Ticker{}
	)
	return func(provider string) (Ticker, error) {
		if provider == "" {
			provider = o.MeshProvider
		}
		mu.Lock()
		defer mu.Unlock()
		if e, ok := engines[provider]; ok {
			return e, nil
		}
		r, err := traffic.ForProvider(provider, c)
		if err != nil {
			return nil, fmt.Errorf("spec.provider: %w", err)
		}
		var e Ticker = engine.New(w, r, src, hooks, notifier)
		if provider == "kubernetes" {
			e = blueGreenOnly{e}
		}
		engines[provider] = e
		return e, nil
	}, notifier, nil
}

// newWorkload returns the controller's workload, shaped by the options.
func newWorkload(c client.Client, o Options) *workload.Workload {
	return workload.New(c, workload.Options{
		SelectorLabels:        o.SelectorLabels,
		IncludeLabelPrefixes:  o.IncludeLabelPrefixes,
		DisableConfigTracking: o.DisableConfigTracking,
	})
}

// blueGreenOnly runs the Canaries of the kubernetes provider as Flagger
// does: with no traffic split, every release is blue/green. A Canary
// without iterations gets 10, and request matches (A/B testing) are
// dropped; Warning events say so when the analysis starts.
type blueGreenOnly struct{ Ticker }

// blueGreenIterations is what Flagger runs a kubernetes Canary without
// iterations for.
const blueGreenIterations = v1beta1.KubernetesBlueGreenIterations

func (b blueGreenOnly) Tick(ctx context.Context, c *v1beta1.Canary, cmd rollout.Command, deleting bool, now time.Time) (rollout.Decision, error) {
	var warnings []rollout.Event
	if a := c.Spec.Analysis; a != nil {
		if len(a.Match) > 0 {
			a.Match = nil
			warnings = append(warnings, rollout.Event{Type: rollout.Warning, Reason: "Progressing",
				Message: "A/B testing is not supported when using the kubernetes provider: spec.analysis.match has no effect"})
		}
		if a.Iterations < 1 {
			a.Iterations = blueGreenIterations
			warnings = append(warnings, rollout.Event{Type: rollout.Warning, Reason: "Progressing",
				Message: fmt.Sprintf("Progressive traffic is not supported when using the kubernetes provider: running %d blue/green iterations", blueGreenIterations)})
		}
	}
	d, err := b.Ticker.Tick(ctx, c, cmd, deleting, now)
	if err == nil && len(warnings) > 0 && d.Status.Phase == v1beta1.PhaseProgressing && c.Status.Phase != v1beta1.PhaseProgressing {
		d.Events = append(warnings, d.Events...)
	}
	return d, err
}
