// Command receiver is the end-to-end tests' stand-in for what webhooks and
// alerts are sent to: Slack, Teams, Discord, Rocket, Google Chat, a
// generic webhook, an HTTP proxy. It records every request and answers
// by path:
//
//	/hang...         never answers (until the client hangs up)
//	/delay/D/...     answers 200 after the duration D (such as 3s)
//	/status/NNN...   answers NNN
//	anything else    answers 200
//
// A request sent through it as an HTTP proxy (an absolute URL in the
// request line) is recorded with Proxied set and answered 200 without
// being forwarded. GET /_requests returns the record as JSON. It prints
// "listening on http://ADDR" once it listens.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Request is one recorded request.
type Request struct {
	Time    time.Time   `json:"time"`
	Method  string      `json:"method"`
	Host    string      `json:"host"`
	Path    string      `json:"path"`
	Proxied bool        `json:"proxied"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

type recorder struct {
	mu   sync.Mutex
	reqs []Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_requests" && !r.URL.IsAbs() {
		rec.mu.Lock()
		b, err := json.Marshal(rec.reqs)
		rec.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, Request{
		Time: time.Now(), Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Proxied: r.URL.IsAbs(), Header: r.Header, Body: string(body),
	})
	rec.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/hang"):
		<-r.Context().Done()
	case strings.HasPrefix(r.URL.Path, "/delay/"):
		d, err := time.ParseDuration(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/delay/"), "/", 2)[0])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprint(w, "ok")
		case <-r.Context().Done():
		}
	case strings.HasPrefix(r.URL.Path, "/status/"):
		code, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/status/"), "/", 2)[0])
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d on purpose", code)
	default:
		fmt.Fprint(w, "ok")
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", l.Addr())
	srv := &http.Server{Handler: &recorder{}, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
