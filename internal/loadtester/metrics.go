package loadtester

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the loadtester's Prometheus metrics.
type metrics struct {
	tasks        *prometheus.CounterVec // kind, result
	duration     *prometheus.HistogramVec
	running      prometheus.Gauge
	unauthorized prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serin_loadtester_tasks_total",
			Help: "Tasks by kind (hey, exec, none) and result (ok, failed, skipped as already running, refused).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "serin_loadtester_task_duration_seconds",
			Help:    "How long tasks ran.",
			Buckets: []float64{0.1, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"kind"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "serin_loadtester_tasks_running",
			Help: "Tasks running now, blocking and in the background.",
		}),
		unauthorized: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "serin_loadtester_unauthorized_requests_total",
			Help: "Task and gate requests refused for a missing or wrong token.",
		}),
	}
	for _, c := range []prometheus.Collector{m.tasks, m.duration, m.running, m.unauthorized} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register loadtester metrics: %w", err)
		}
	}
	return m, nil
}
