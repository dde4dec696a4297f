package local

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var fixedTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	closed := freePortT(t)

	httpProbe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}}}
	}
	tcp := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9898)}}}
	execProbe := func(cmd ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}}
	}
	for _, tc := range []struct {
		name string
		port int
		p    *corev1.Probe
		ok   bool
	}{
		{"http 200", port, httpProbe("/readyz"), true},
		{"http 503", port, httpProbe("/other"), false},
		{"http refused", closed, httpProbe("/readyz"), false},
		{"tcp open", port, tcp, true},
		{"tcp refused", closed, tcp, false},
		{"exec true", port, execProbe("true"), true},
		{"exec false", port, execProbe("false"), false},
		{"exec missing", port, execProbe("/nonexistent/probe"), false},
		{"no handler", port, &corev1.Probe{}, false},
	} {
		pr := &Prober{Port: tc.port, Env: []string{"PATH=/usr/bin:/bin"}}
		err := pr.Probe(context.Background(), tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func freePortT(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
