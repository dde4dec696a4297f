package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Prober runs a container's probes against the local process. httpGet and
// tcpSocket probes connect to the pod's PORT whatever port they name, since
// every port of a local pod is its one loopback port.
type Prober struct {
	// Port of the pod.
	Port int
	// Env and Dir of exec probes.
	Env []string
	Dir string
	// Client for httpGet probes; nil means a client without redirects.
	Client *http.Client
}

// ProbeTimeout is a probe's timeout (timeoutSeconds, default 1s).
func ProbeTimeout(p *corev1.Probe) time.Duration {
	if p.TimeoutSeconds > 0 {
		return time.Duration(p.TimeoutSeconds) * time.Second
	}
	return time.Second
}

// Probe runs p once and returns nil when it succeeds.
func (pr *Prober) Probe(ctx context.Context, p *corev1.Probe) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout(p))
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		return pr.httpGet(ctx, p.HTTPGet)
	case p.TCPSocket != nil:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pr.Port)))
		if err != nil {
			return fmt.Errorf("tcpSocket: %w", err)
		}
		return c.Close()
	case p.Exec != nil:
		if len(p.Exec.Command) == 0 {
			return fmt.Errorf("exec: no command")
		}
		cmd := exec.CommandContext(ctx, p.Exec.Command[0], p.Exec.Command[1:]...)
		cmd.Env, cmd.Dir = pr.Env, pr.Dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("exec %v: %w: %s", p.Exec.Command, err, truncate(string(out), 200))
		}
		return nil
	case p.GRPC != nil:
		return fmt.Errorf("grpc probes are not supported locally")
	default:
		return fmt.Errorf("probe: no handler (httpGet, tcpSocket or exec)")
	}
}

func (pr *Prober) httpGet(ctx context.Context, h *corev1.HTTPGetAction) error {
	scheme := "http"
	if h.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, pr.Port, h.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("httpGet: %w", err)
	}
	for _, hd := range h.HTTPHeaders {
		req.Header.Add(hd.Name, hd.Value)
	}
	req.Header.Set("User-Agent", "serin-probe")
	client := pr.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("httpGet %s: %w", h.Path, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("httpGet %s: status %d", h.Path, resp.StatusCode)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// probeSchedule is the timing of a probe, with Kubernetes' defaults.
type probeSchedule struct {
	initialDelay, period time.Duration
	success, failure     int
}

func scheduleOf(p *corev1.Probe) probeSchedule {
	s := probeSchedule{
		initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period:       time.Duration(p.PeriodSeconds) * time.Second,
		success:      int(p.SuccessThreshold),
		failure:      int(p.FailureThreshold),
	}
	if s.period <= 0 {
		s.period = 10 * time.Second
	}
	if s.success <= 0 {
		s.success = 1
	}
	if s.failure <= 0 {
		s.failure = 3
	}
	return s
}
