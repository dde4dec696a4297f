package loadtester

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseHey(t *testing.T) {
	l, err := parseHey(strings.Fields("-z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"))
	if err != nil {
		t.Fatal(err)
	}
	if l.duration != 2*time.Minute || l.opts.QPS != 10 || l.opts.Concurrency != 2 || l.opts.Requests != 0 ||
		l.opts.Method != "GET" || l.opts.URL != "http://podinfo-canary.test:9898/" {
		t.Errorf("-z 2m -q 10 -c 2: %+v", l)
	}
	if ct := l.opts.Header.Get("Content-Type"); ct != "text/html" {
		t.Errorf("default content type = %q, want hey's text/html", ct)
	}
	if l.opts.Client.Timeout != 20*time.Second {
		t.Errorf("default timeout = %v, want hey's 20s", l.opts.Client.Timeout)
	}

	l, err = parseHey([]string{"http://x/"})
	if err != nil || l.opts.Requests != 200 || l.opts.Concurrency != 50 || l.opts.QPS != 0 || l.duration != 0 {
		t.Errorf("defaults: %+v, %v; want hey's -n 200 -c 50", l, err)
	}

	l, err = parseHey([]string{"-n", "10", "-c", "1", "-m", "put", "-H", "X-A: 1", "-H", "X-A: 2", "-A", "text/plain",
		"-a", "u:p", "-t", "0", "-disable-keepalive", "-disable-redirects", "-h2", "-x", "127.0.0.1:3128", "http://x/"})
	if err != nil {
		t.Fatal(err)
	}
	h := l.opts.Header
	if l.opts.Method != "PUT" || len(h.Values("X-A")) != 2 || h.Get("Accept") != "text/plain" ||
		h.Get("Authorization") != "Basic dTpw" || l.opts.Client.Timeout != 0 || l.opts.Client.CheckRedirect == nil {
		t.Errorf("flags: %+v", l.opts)
	}
	tr := l.opts.Client.Transport.(*http.Transport)
	req, _ := http.NewRequest("GET", "http://x/", nil)
	if p, _ := tr.Proxy(req); p == nil || p.Host != "127.0.0.1:3128" || !tr.DisableKeepAlives {
		t.Errorf("transport: proxy %v keepalives off %v", p, tr.DisableKeepAlives)
	}

	for _, bad := range []string{
		"", "-z 1m", "-n 1 -c 2 http://x/", "-c 0 http://x/", "-q -1 http://x/", "-z -1s http://x/",
		"-o csv http://x/", "-H nocolon http://x/", "-a nopass http://x/", "podinfo:9898/", "http://x/ extra",
		"-unknown http://x/",
	} {
		if _, err := parseHey(strings.Fields(bad)); err == nil {
			t.Errorf("parseHey(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzParseTask: no panic on any command line.
func FuzzParseTask(f *testing.F) {
	for _, s := range []string{"hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/", `hey -H 'a: b' -d "x" http://x/`, "curl -sf http://x/", "hey -n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		_, _ = newTask("podinfo.test", map[string]string{"cmd": cmd}, policy{allowed: []string{"curl"}})
	})
}
