package kube

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	"github.com/serinhq/serin/internal/metrics"
	"github.com/serinhq/serin/internal/traffic"
	workload "github.com/serinhq/serin/internal/workload/kube"
)

// routerSchemes are the kinds the routers write.
func routerSchemes() []func(*runtime.Scheme) error {
	return []func(*runtime.Scheme) error{traffic.AddToScheme}
}

// newEngines returns the engines of the controller, one per traffic
// provider, built on first use. The workload, metric source, webhooks and
// notifier are shared.
func newEngines(c client.Client, o Options) (Engines, error) {
	src := o.Source
	if src == nil {
		src = metrics.New(metrics.Options{
			MetricsServer: o.MetricsServer,
			Templates: func(ctx context.Context, ns, name string) (*v1beta1.MetricTemplate, error) {
				t := &v1beta1.MetricTemplate{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t); err != nil {
					return nil, err
				}
				return t, nil
			},
			Secrets: secretLookup(c),
			Now:     o.Now,
		})
	}
	if _, err := traffic.ForProvider(o.MeshProvider, c); err != nil {
		return nil, fmt.Errorf("mesh provider: %w", err)
	}
	w := workload.New(c, workload.Options{
		SelectorLabels:        o.SelectorLabels,
		IncludeLabelPrefixes:  o.IncludeLabelPrefixes,
		DisableConfigTracking: o.DisableConfigTracking,
	})
	hooks, notifier := newHooksAndNotifier(c, o)
	var (
		mu      sync.Mutex
		engines = map[string]*engine.Engine{}
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
		e := engine.New(w, r, src, hooks, notifier)
		engines[provider] = e
		return e, nil
	}, nil
}
