package providers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// keptnGV is the group and version of the Keptn objects the keptn
// provider reads (KeptnMetric) and writes (Analysis).
func keptnGV() schema.GroupVersion {
	return schema.GroupVersion{Group: "metrics.keptn.sh", Version: "v1beta1"}
}

// KeptnQueryFormat is the form of a keptn query, as Flagger's.
const KeptnQueryFormat = "keptnmetric/<namespace>/<name> or analysis/<namespace>/<AnalysisDefinition>[/<timeframe>[/<arg>=<value>;...]]"

// keptn reads a KeptnMetric's value, or runs a Keptn Analysis and waits
// for its verdict, on the cluster serin runs on.
type keptn struct {
	kube    client.Client
	timeout time.Duration
	// poll is how often a running Analysis is read again.
	poll time.Duration
}

func newKeptn(cfg Config) (*keptn, error) {
	if cfg.Kube == nil {
		return nil, errors.New("keptn reads Keptn's objects on a Kubernetes cluster: it runs only under serin controller")
	}
	return &keptn{kube: cfg.Kube, timeout: cfg.timeout(), poll: time.Second}, nil
}

// keptnQuery is a parsed keptn query.
type keptnQuery struct {
	analysis  bool
	namespace string
	name      string
	timeframe string
	args      map[string]any
}

// parseKeptnQuery parses a keptn query (see KeptnQueryFormat). The kind is
// read case-insensitively, "keptnmetrics" and "analyses" too; the
// timeframe of an Analysis defaults to 1m.
func parseKeptnQuery(query string) (keptnQuery, error) {
	parts := strings.Split(strings.TrimSpace(query), "/")
	if len(parts) < 3 || parts[1] == "" || parts[2] == "" {
		return keptnQuery{}, fmt.Errorf("keptn query %q: want %s", query, KeptnQueryFormat)
	}
	q := keptnQuery{namespace: parts[1], name: parts[2]}
	switch strings.ToLower(parts[0]) {
	case "keptnmetric", "keptnmetrics":
		if len(parts) > 3 {
			return keptnQuery{}, fmt.Errorf("keptn query %q: a keptnmetric query is keptnmetric/<namespace>/<name>", query)
		}
	case "analysis", "analyses":
		q.analysis, q.timeframe, q.args = true, "1m", map[string]any{}
		if len(parts) > 3 && parts[3] != "" {
			if _, err := time.ParseDuration(parts[3]); err != nil {
				return keptnQuery{}, fmt.Errorf("keptn query %q: timeframe %q: %w", query, parts[3], err)
			}
			q.timeframe = parts[3]
		}
		if len(parts) > 4 {
			for _, kv := range strings.Split(strings.Join(parts[4:], "/"), ";") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return keptnQuery{}, fmt.Errorf("keptn query %q: argument %q is not <name>=<value>", query, kv)
				}
				q.args[k] = v
			}
		}
	default:
		return keptnQuery{}, fmt.Errorf("keptn query %q: kind %q is not keptnmetric or analysis", query, parts[0])
	}
	return q, nil
}

// Value reads the KeptnMetric's status.value (no value yet is no data),
// or creates an Analysis of the AnalysisDefinition over the timeframe,
// waits for Keptn to complete it, deletes it, and returns 1 when it
// passed and 0 when it failed, as Flagger does.
func (k *keptn) Value(ctx context.Context, q Query) (float64, bool, error) {
	kq, err := parseKeptnQuery(q.Text)
	if err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	if !kq.analysis {
		return k.metric(ctx, kq)
	}
	return k.analysis(ctx, kq)
}

func (k *keptn) metric(ctx context.Context, kq keptnQuery) (float64, bool, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(keptnGV().WithKind("KeptnMetric"))
	ref := kq.namespace + "/" + kq.name
	if err := k.kube.Get(ctx, client.ObjectKey{Namespace: kq.namespace, Name: kq.name}, obj); err != nil {
		return 0, false, k.error("get KeptnMetric "+ref, err)
	}
	raw, found, err := unstructured.NestedFieldNoCopy(obj.Object, "status", "value")
	if err != nil || !found || raw == nil || raw == "" {
		return 0, false, nil
	}
	s, ok := raw.(string)
	if !ok {
		return 0, false, fmt.Errorf("keptn: KeptnMetric %s: %w: status.value is a %T, want a string", ref, ErrMalformed, raw)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("keptn: KeptnMetric %s: %w: status.value %q is not a number", ref, ErrMalformed, s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

func (k *keptn) analysis(ctx context.Context, kq keptnQuery) (float64, bool, error) {
	a := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"analysisDefinition": map[string]any{"name": kq.name},
			"timeframe":          map[string]any{"recent": kq.timeframe},
			"args":               kq.args,
		},
	}}
	a.SetGroupVersionKind(keptnGV().WithKind("Analysis"))
	a.SetNamespace(kq.namespace)
	a.SetGenerateName(kq.name + "-")
	a.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "serin"})
	def := "AnalysisDefinition " + kq.namespace + "/" + kq.name
	if err := k.kube.Create(ctx, a); err != nil {
		return 0, false, k.error("create an Analysis of "+def, err)
	}
	defer func() {
		// The Analysis is only the question asked: remove it whatever
		// the outcome, even when the query's context has ended.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.IgnoreNotFound(k.kube.Delete(dctx, a))
	}()
	name := kq.namespace + "/" + a.GetName()
	tick := time.NewTicker(k.poll)
	defer tick.Stop()
	for {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(keptnGV().WithKind("Analysis"))
		if err := k.kube.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
			return 0, false, k.error("get Analysis "+name, err)
		}
		state, _, _ := unstructured.NestedString(got.Object, "status", "state")
		if state == "Completed" {
			pass, found, err := unstructured.NestedBool(got.Object, "status", "pass")
			if err != nil || !found {
				return 0, false, fmt.Errorf("keptn: Analysis %s of %s: %w: completed without status.pass", name, def, ErrMalformed)
			}
			if pass {
				return 1, true, nil
			}
			return 0, true, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, fmt.Errorf("keptn: Analysis %s of %s not completed within %s (state %q): is Keptn's metrics operator running?", name, def, k.timeout, state)
		case <-tick.C:
		}
	}
}

func (k *keptn) error(what string, err error) error {
	switch {
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return fmt.Errorf("keptn: %s: %w: %v", what, ErrCredentials, err)
	case apierrors.IsTooManyRequests(err):
		return fmt.Errorf("keptn: %s: %w: %v", what, ErrThrottled, err)
	}
	return fmt.Errorf("keptn: %s: %w", what, err)
}
