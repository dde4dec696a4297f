package svcnames

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		host      string
		want      Name
		qualified bool
		ok        bool
	}{
		{"flagger-loadtester.test", Name{"flagger-loadtester", "test"}, false, true},
		{"podinfo-canary.test.", Name{"podinfo-canary", "test"}, false, true},
		{"podinfo.test.svc", Name{"podinfo", "test"}, true, true},
		{"Podinfo.Test.svc.cluster.local", Name{"podinfo", "test"}, true, true},
		{"podinfo", Name{}, false, false},
		{"127.0.0.1", Name{}, false, false},
		{"podinfo.test.svc.cluster", Name{}, false, false},
		{"a.b.c", Name{}, false, false},
		{"-bad.test", Name{}, false, false},
		{"under_score.test", Name{}, false, false},
		{"", Name{}, false, false},
	} {
		n, q, ok := Parse(tc.host)
		if n != tc.want || q != tc.qualified || ok != tc.ok {
			t.Errorf("Parse(%q) = %v, %v, %v; want %v, %v, %v", tc.host, n, q, ok, tc.want, tc.qualified, tc.ok)
		}
	}
}

func table() *Table {
	t := &Table{}
	t.Add(Name{"podinfo", "test"}, 9898, "127.0.0.1:9898")
	t.Add(Name{"podinfo-canary", "test"}, 9898, "127.0.0.1:40001")
	t.Add(Name{"flagger-loadtester", "test"}, 80, "127.0.0.1:40002")
	return t
}

func TestResolve(t *testing.T) {
	tab := table()
	for _, tc := range []struct {
		host  string
		port  int32
		addr  string
		local bool
		err   string
	}{
		{"podinfo.test", 9898, "127.0.0.1:9898", true, ""},
		{"podinfo.test.svc.cluster.local", 9898, "127.0.0.1:9898", true, ""},
		{"podinfo-canary.test.svc", 9898, "127.0.0.1:40001", true, ""},
		{"flagger-loadtester.test", 80, "127.0.0.1:40002", true, ""},
		{"podinfo.test", 80, "", true, "service test/podinfo has no port 80 (ports: 9898)"},
		{"loadtester.test", 80, "", true, "no service loadtester in namespace test"},
		{"podinfo.prod.svc", 9898, "", true, "no service podinfo in namespace prod"},
		{"example.com", 443, "", false, ""},
		{"127.0.0.1", 9898, "", false, ""},
	} {
		addr, local, err := tab.Resolve(tc.host, tc.port)
		if addr != tc.addr || local != tc.local || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Resolve(%q, %d) = %q, %v, %v; want %q, %v, %q", tc.host, tc.port, addr, local, err, tc.addr, tc.local, tc.err)
		}
		var ne *NoServiceError
		if err != nil && !errors.As(err, &ne) {
			t.Errorf("Resolve(%q): %v is not a *NoServiceError", tc.host, err)
		}
	}
	if _, local, _ := (*Table)(nil).Resolve("podinfo.test.svc", 80); local {
		t.Error("a nil table resolved a name")
	}
}

func TestResolveURL(t *testing.T) {
	tab := table()
	for raw, want := range map[string]string{
		"http://flagger-loadtester.test/":         "127.0.0.1:40002",
		"http://podinfo-canary.test:9898/x?y=1":   "127.0.0.1:40001",
		"http://user:pw@flagger-loadtester.test/": "127.0.0.1:40002",
		"https://example.com/":                    "",
		"podinfo.test:9898":                       "",
	} {
		if addr, _, _ := tab.ResolveURL(raw); addr != want {
			t.Errorf("ResolveURL(%q) = %q, want %q", raw, addr, want)
		}
	}
}

// TestTransport sends requests by Kubernetes name to a real server.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host %s", r.Host)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	tab := &Table{}
	tab.Add(Name{"podinfo-canary", "test"}, 9898, addr)
	path := filepath.Join(t.TempDir(), "names.json")
	if err := WriteFile(path, tab); err != nil {
		t.Fatal(err)
	}
	d := &Dialer{Table: FileTable(path)}
	tr := d.Transport()
	// A proxy from the environment must not see local names.
	tr.Proxy = d.Proxy(func(*http.Request) (*url.URL, error) { return url.Parse("http://127.0.0.1:1") })
	c := &http.Client{Transport: tr}

	resp, err := c.Get("http://podinfo-canary.test:9898/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "host podinfo-canary.test:9898" {
		t.Fatalf("answer %q", b)
	}
	_, err = c.Get("http://podinfo.test.svc.cluster.local:9898/")
	if err == nil || !strings.Contains(err.Error(), "no service podinfo in namespace test runs locally") {
		t.Fatalf("an unknown Service: %v", err)
	}

	// A table written again is read again.
	tab.Add(Name{"podinfo", "test"}, 9898, addr)
	if err := WriteFile(path, tab); err != nil {
		t.Fatal(err)
	}
	resp, err = c.Get("http://podinfo.test.svc.cluster.local:9898/")
	if err != nil {
		t.Fatalf("after the table changed: %v", err)
	}
	resp.Body.Close()

	// Without a file, nothing resolves locally and dialling goes on.
	none := &Dialer{Table: FileTable(filepath.Join(t.TempDir(), "none"))}
	conn, err := none.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
