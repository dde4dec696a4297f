package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes a Store under Linkerd's metric names.
type collector struct {
	s         *Store
	requests  *prometheus.Desc
	responses *prometheus.Desc
	latency   *prometheus.Desc
	reqBytes  *prometheus.Desc
	respBytes *prometheus.Desc
}

// Collector returns a prometheus.Collector for the Store's metrics, to be
// registered by the caller on a registry it owns. The names and labels are
// Linkerd's (direction is always "inbound": serin records on behalf of the
// backend it forwards to):
//
//	request_total{direction,namespace,deployment}
//	response_total{direction,classification,status_code,namespace,deployment}
//	response_latency_ms_bucket{direction,namespace,deployment,le}
//	request_body_bytes_total, response_body_bytes_total{direction,namespace,deployment}
func (s *Store) Collector() prometheus.Collector {
	base := []string{"direction", "namespace", "deployment"}
	return &collector{
		s:        s,
		requests: prometheus.NewDesc("request_total", "Total count of HTTP requests.", base, nil),
		responses: prometheus.NewDesc("response_total", "Total count of HTTP responses.",
			[]string{"direction", "classification", "status_code", "namespace", "deployment"}, nil),
		latency: prometheus.NewDesc("response_latency_ms",
			"Elapsed times between a request's headers being received and its response's headers being sent, in milliseconds.", base, nil),
		reqBytes:  prometheus.NewDesc("request_body_bytes_total", "Total bytes of request bodies forwarded.", base, nil),
		respBytes: prometheus.NewDesc("response_body_bytes_total", "Total bytes of response bodies forwarded.", base, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.responses
	ch <- c.latency
	ch <- c.reqBytes
	ch <- c.respBytes
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range c.s.Backends() {
		r := c.s.Recorder(k)
		ns, dep := k.Namespace, k.Deployment
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(r.requests.Load()), "inbound", ns, dep)
		for code := range r.status {
			n := r.status[code].Load()
			if n == 0 {
				continue
			}
			class := "success"
			if Failure(code) {
				class = "failure"
			}
			status := ""
			if code != 0 {
				status = strconv.Itoa(code)
			}
			ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n), "inbound", class, status, ns, dep)
		}
		buckets := make(map[float64]uint64, len(latencyBoundsMs))
		var cum, count int64
		for i := range r.buckets {
			n := r.buckets[i].Load()
			count += n
			if i < len(latencyBoundsMs) {
				cum += n
				buckets[latencyBoundsMs[i]] = uint64(cum)
			}
		}
		sum := float64(r.latencyUs.Load()) / 1000
		ch <- prometheus.MustNewConstHistogram(c.latency, uint64(count), sum, buckets, "inbound", ns, dep)
		ch <- prometheus.MustNewConstMetric(c.reqBytes, prometheus.CounterValue, float64(r.reqBytes.Load()), "inbound", ns, dep)
		ch <- prometheus.MustNewConstMetric(c.respBytes, prometheus.CounterValue, float64(r.respBytes.Load()), "inbound", ns, dep)
	}
}
