package demo

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPodinfoAPI(t *testing.T) {
	p := NewPodinfo(PodinfoOptions{Version: "1.7.1", Hostname: "podinfo-abc", Rand: rand.New(rand.NewPCG(1, 1))})
	srv := httptest.NewServer(p)
	defer srv.Close()

	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("hello"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("GET", "/")
	var info map[string]string
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
		t.Fatalf("GET /: %d %q", code, body)
	}
	for _, k := range []string{"hostname", "version", "revision", "color", "message", "goos", "goarch", "runtime", "num_goroutine", "num_cpu"} {
		if _, ok := info[k]; !ok {
			t.Errorf("GET /: no field %q", k)
		}
	}
	if info["version"] != "1.7.1" || info["hostname"] != "podinfo-abc" || info["message"] != "greetings from podinfo v1.7.1" {
		t.Errorf("GET / = %v", info)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/version", 200, `"1.7.1"`},
		{"GET", "/healthz", 200, "OK"},
		{"GET", "/readyz", 200, "OK"},
		{"POST", "/readyz/disable", 202, ""},
		{"GET", "/readyz", 503, "not ready"},
		{"POST", "/readyz/enable", 202, ""},
		{"GET", "/readyz", 200, "OK"},
		{"GET", "/status/418", 418, "418"},
		{"GET", "/status/abc", 400, "status code"},
		{"GET", "/delay/0", 200, `"delay": 0`},
		{"GET", "/headers", 200, "User-Agent"},
		{"POST", "/echo", 202, "hello"},
		{"GET", "/metrics", 200, "podinfo_requests_total"},
		{"GET", "/panic", 500, "panic"},
		{"GET", "/env", 200, "["},
	} {
		code, body := get(tc.method, tc.path)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.contains)
		}
	}
}

func TestPodinfoRandomErrorRate(t *testing.T) {
	p := NewPodinfo(PodinfoOptions{RandomError: true, Rand: rand.New(rand.NewPCG(42, 7))})
	const n = 9000
	fivexx, other := 0, 0
	for range n {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		switch {
		case w.Code >= 500:
			fivexx++
		case w.Code != 200:
			other++
		}
	}
	if rate := float64(fivexx) / n; rate < 0.09 || rate > 0.13 {
		t.Errorf("5xx rate = %.3f, want about 1/9", rate)
	}
	if rate := float64(other) / n; rate < 0.19 || rate > 0.26 {
		t.Errorf("4xx rate = %.3f, want about 2/9", rate)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	for range 50 {
		w = httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code != 200 {
			t.Fatalf("readyz with random errors = %d, want probes spared", w.Code)
		}
	}
}

func TestVersionFromImage(t *testing.T) {
	for in, want := range map[string]string{
		"quay.io/stefanprodan/podinfo:1.7.1":  "1.7.1",
		"ghcr.io/stefanprodan/podinfo:v6.5.0": "6.5.0",
		"localhost:5000/podinfo":              "",
		"podinfo:latest":                      "",
		"podinfo:1.7.0@sha256:abc":            "1.7.0",
		"":                                    "",
	} {
		if got := VersionFromImage(in); got != want {
			t.Errorf("VersionFromImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFrontendProxies(t *testing.T) {
	up := httptest.NewServer(NewPodinfo(PodinfoOptions{Version: "1.7.0"}))
	defer up.Close()
	h, err := NewFrontend(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	fe := httptest.NewServer(h)
	defer fe.Close()
	resp, err := http.Get(fe.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "1.7.0") {
		t.Errorf("through the frontend: %q", b)
	}
	if _, err := NewFrontend("not a url"); err == nil {
		t.Error("NewFrontend(bad url): want an error")
	}
}
