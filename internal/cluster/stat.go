package cluster

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/common/model"
)

// Querier runs an instant PromQL query; *prometheus.Client is one.
type Querier interface {
	Vector(ctx context.Context, query string, ts time.Time) (model.Vector, error)
}

// StatRow is one row of linkerd viz stat: a Deployment's or a pod's
// inbound golden metrics over the window.
type StatRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Meshed is "meshed pods/running pods".
	Meshed string `json:"meshed"`
	// HasTraffic is false when no response was counted in the window;
	// the metrics are then zero and printed as "-".
	HasTraffic bool `json:"hasTraffic"`
	// Success is the share of successful responses, in percent.
	Success float64 `json:"success"`
	// RPS is responses per second over the window.
	RPS float64 `json:"rps"`
	// P50, P95 and P99 are latency quantiles in milliseconds; nil when
	// PromQL has none (no response in the last two samples irate reads).
	P50 *float64 `json:"latencyP50,omitempty"`
	P95 *float64 `json:"latencyP95,omitempty"`
	P99 *float64 `json:"latencyP99,omitempty"`
	// TCPConn is the open inbound TCP connections, when exported.
	TCPConn *float64 `json:"tcpConn,omitempty"`
}

// StatKind is what stat rows are by.
type StatKind string

// Stat kinds: Linkerd's metrics carry both labels.
const (
	StatDeployment StatKind = "deployment"
	StatPod        StatKind = "pod"
)

// Stat returns linkerd viz stat's rows for every Deployment (or pod) in
// ns (every namespace when empty), with the metrics Linkerd's own queries
// give at ts over window: response_total and response_latency_ms_bucket of
// direction="inbound", by namespace and the kind's label.
func (c *Client) Stat(ctx context.Context, q Querier, kind StatKind, ns string, window time.Duration, ts time.Time) ([]StatRow, error) {
	rows, err := c.statRows(ctx, kind, ns)
	if err != nil {
		return nil, err
	}
	m, err := LinkerdStats(ctx, q, kind, ns, window, ts)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		r := &rows[i]
		if s, ok := m[r.Namespace+"/"+r.Name]; ok {
			s.Namespace, s.Name, s.Meshed = r.Namespace, r.Name, r.Meshed
			*r = s
		}
	}
	return rows, nil
}

// statRows are the rows without metrics: every Deployment (or pod) and
// its meshed pods.
func (c *Client) statRows(ctx context.Context, kind StatKind, ns string) ([]StatRow, error) {
	var pods corev1.PodList
	if err := c.cl.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, access(err, "list", "pods", ns)
	}
	var rows []StatRow
	if kind == StatPod {
		for _, p := range pods.Items {
			meshed := 0
			if isMeshed(&p) {
				meshed = 1
			}
			rows = append(rows, StatRow{Namespace: p.Namespace, Name: p.Name, Meshed: fmt.Sprintf("%d/1", meshed)})
		}
		return rows, nil
	}
	deps, err := c.Deployments(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, d := range deps {
		dep := &d.Deployment
		rows = append(rows, StatRow{Namespace: dep.Namespace, Name: dep.Name, Meshed: meshedOf(dep, func(yield func(*corev1.Pod) bool) {
			for i := range pods.Items {
				if !yield(&pods.Items[i]) {
					return
				}
			}
		})})
	}
	return rows, nil
}

// meshedOf is "meshed pods/running pods" of a Deployment among pods.
func meshedOf(dep *appsv1.Deployment, pods iter.Seq[*corev1.Pod]) string {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		sel = labels.Nothing()
	}
	var running, meshed int
	for p := range pods {
		if p.Namespace != dep.Namespace || !sel.Matches(labels.Set(p.Labels)) || p.Status.Phase != corev1.PodRunning {
			continue
		}
		running++
		if isMeshed(p) {
			meshed++
		}
	}
	return fmt.Sprintf("%d/%d", meshed, running)
}

// isMeshed reports whether Linkerd's proxy was injected into a pod.
func isMeshed(p *corev1.Pod) bool {
	if _, ok := p.Labels["linkerd.io/control-plane-ns"]; ok {
		return true
	}
	return slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == "linkerd-proxy" })
}

// LinkerdStats runs linkerd viz stat's queries at ts and returns the rows
// with traffic by "namespace/name". Success is successes over all
// responses of increase(response_total[window]), RPS their sum over the
// window's seconds, latencies histogram_quantile of
// irate(response_latency_ms_bucket[window]).
func LinkerdStats(ctx context.Context, q Querier, kind StatKind, ns string, window time.Duration, ts time.Time) (map[string]StatRow, error) {
	label := string(kind)
	sel := `direction="inbound"`
	if ns != "" {
		sel += fmt.Sprintf(`, namespace=%q`, ns)
	}
	w := model.Duration(window).String()
	by := "namespace, " + label
	key := func(s *model.Sample) string {
		return string(s.Metric["namespace"]) + "/" + string(s.Metric[model.LabelName(label)])
	}
	out := map[string]StatRow{}
	reqs, err := q.Vector(ctx, fmt.Sprintf(`sum(increase(response_total{%s}[%s])) by (%s, classification)`, sel, w, by), ts)
	if err != nil {
		return nil, unreachable(err)
	}
	success, total := map[string]float64{}, map[string]float64{}
	for _, s := range reqs {
		v := float64(s.Value)
		if math.IsNaN(v) {
			continue
		}
		k := key(s)
		total[k] += v
		if s.Metric["classification"] == "success" {
			success[k] += v
		}
	}
	for k, n := range total {
		if n <= 0 {
			continue
		}
		nsName := strings.SplitN(k, "/", 2)
		out[k] = StatRow{Namespace: nsName[0], Name: nsName[1], HasTraffic: true,
			Success: 100 * success[k] / n, RPS: n / window.Seconds()}
	}
	for _, qt := range []struct {
		q   string
		set func(r *StatRow, v *float64)
	}{
		{"0.5", func(r *StatRow, v *float64) { r.P50 = v }},
		{"0.95", func(r *StatRow, v *float64) { r.P95 = v }},
		{"0.99", func(r *StatRow, v *float64) { r.P99 = v }},
	} {
		vec, err := q.Vector(ctx, fmt.Sprintf(`histogram_quantile(%s, sum(irate(response_latency_ms_bucket{%s}[%s])) by (le, %s))`, qt.q, sel, w, by), ts)
		if err != nil {
			return nil, unreachable(err)
		}
		for _, s := range vec {
			if r, ok := out[key(s)]; ok && !math.IsNaN(float64(s.Value)) {
				v := float64(s.Value)
				qt.set(&r, &v)
				out[key(s)] = r
			}
		}
	}
	tcp, err := q.Vector(ctx, fmt.Sprintf(`sum(tcp_open_connections{%s}) by (%s)`, sel, by), ts)
	if err != nil {
		return nil, unreachable(err)
	}
	for _, s := range tcp {
		if r, ok := out[key(s)]; ok {
			v := float64(s.Value)
			r.TCPConn = &v
			out[key(s)] = r
		}
	}
	return out, nil
}

// unreachable says clearly when Prometheus could not be reached.
func unreachable(err error) error {
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return fmt.Errorf("cannot reach Prometheus (pass --prometheus URL, e.g. after `kubectl -n linkerd-viz port-forward svc/prometheus 9090`): %w", err)
	}
	return err
}
