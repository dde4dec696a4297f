package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"slices"
	"testing"
)

// agreeWithReadRequest checks that when net/http also accepts a request
// head, it frames the message the same way: the two sides of a proxy
// disagreeing on where a message ends is request smuggling.
func agreeWithReadRequest(t *testing.T, head []byte, h *h1Head) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return
	}
	wantCL := h.contentLength
	if wantCL < 0 && !h.chunked {
		wantCL = 0
	}
	if req.Method != string(h.method.of(head)) || req.RequestURI != string(h.target.of(head)) ||
		req.ContentLength != wantCL || (len(req.TransferEncoding) > 0) != h.chunked || req.Close != h.close {
		t.Fatalf("net/http reads %q as %s %s cl %d te %q close %t; parse gave cl %d chunked %t close %t",
			head, req.Method, req.RequestURI, req.ContentLength, req.TransferEncoding, req.Close,
			h.contentLength, h.chunked, h.close)
	}
}

// agreeWithReadResponse is agreeWithReadRequest for a response to a GET.
func agreeWithReadResponse(t *testing.T, head []byte, h *h1Head) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return
	}
	bodyless := h.status/100 == 1 || h.status == 204 || h.status == 304
	// net/http also closes after a body that ends with the connection.
	untilClose := !bodyless && h.contentLength < 0 && !h.chunked
	if resp.StatusCode != h.status || resp.Close != (h.close || untilClose) ||
		!bodyless && (resp.ContentLength != h.contentLength || (len(resp.TransferEncoding) > 0) != h.chunked) {
		t.Fatalf("net/http reads %q as %d cl %d te %q close %t; parse gave cl %d chunked %t close %t",
			head, resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Close,
			h.contentLength, h.chunked, h.close)
	}
}

func FuzzParseRequestHead(f *testing.F) {
	for _, tc := range requestCases() {
		f.Add([]byte(tc.in + tc.tail))
	}
	f.Add([]byte(typicalRequest))
	f.Add([]byte("GET / HTTP/1.1\r\nConnection: x-a, x-b\r\nX-A: 1\r\nx-b: 2\r\nX-Forwarded-For: a\r\nx-forwarded-for: b\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h h1Head
		n, err := parseRequestHead(b, &h)
		if err != nil {
			var he *headError
			if !errors.As(err, &he) || n != 0 || he.status < 400 || he.status > 505 {
				t.Fatalf("parse = %d, %v", n, err)
			}
			return
		}
		if n == 0 {
			return
		}
		if n > len(b) || h.length != n || h.nfields > maxFields {
			t.Fatalf("parse = %d with length %d of %d bytes", n, h.length, len(b))
		}
		agreeWithReadRequest(t, b[:n], &h)
		for _, k := range []int{n - 1, n / 2} {
			var p h1Head
			if m, err := parseRequestHead(b[:k:k], &p); m != 0 || err != nil {
				t.Fatalf("prefix of %d bytes of a %d-byte head = %d, %v", k, n, m, err)
			}
		}
		fields := fieldsOf(b, &h)
		for _, fl := range fields {
			if v, ok := h.value(b, []byte(fl.name)); !ok || len(v) > len(b) {
				t.Fatalf("value(%q) not found", fl.name)
			}
		}
		h.cookie(b, []byte("a"))

		const ip = "192.0.2.1"
		out := appendRequestHead(nil, b, &h, []byte(ip))
		want := forwardedFields(fields, []string{"connection", "keep-alive", "proxy-connection",
			"proxy-authorization", "te", "trailer", "upgrade"}, ip, true)
		var fwd h1Head
		m, err := parseRequestHead(out, &fwd)
		if len(want) > maxFields {
			var he *headError
			if !errors.As(err, &he) || he.status != 431 {
				t.Fatalf("reparse of %d fields = %v", len(want), err)
			}
			return
		}
		if m != len(out) || err != nil {
			t.Fatalf("reparse of %q = %d, %v", out, m, err)
		}
		if !bytes.Equal(fwd.method.of(out), h.method.of(b)) || !bytes.Equal(fwd.target.of(out), h.target.of(b)) || fwd.minor != 1 {
			t.Fatalf("request line changed: %q", out)
		}
		if got := fieldsOf(out, &fwd); !slices.Equal(got, want) {
			t.Fatalf("forwarded fields = %q\nwant %q", got, want)
		}
		if fwd.contentLength != h.contentLength || fwd.chunked != h.chunked || fwd.close || fwd.upgrade {
			t.Fatalf("forwarded framing: cl %d chunked %t close %t; was cl %d chunked %t",
				fwd.contentLength, fwd.chunked, fwd.close, h.contentLength, h.chunked)
		}
	})
}

func FuzzParseResponseHead(f *testing.F) {
	for _, tc := range responseCases() {
		f.Add([]byte(tc.in + tc.tail))
	}
	f.Add([]byte(typicalResponse))
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nKeep-Alive: 5\r\nContent-Length: 1\r\nTransfer-Encoding: gzip\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h h1Head
		n, err := parseResponseHead(b, &h)
		if err != nil {
			var he *headError
			if !errors.As(err, &he) || n != 0 || he.status != 502 {
				t.Fatalf("parse = %d, %v", n, err)
			}
			return
		}
		if n == 0 {
			return
		}
		if n > len(b) || h.length != n || h.status < 100 || h.status > 999 {
			t.Fatalf("parse = %d, length %d, status %d", n, h.length, h.status)
		}
		agreeWithReadResponse(t, b[:n], &h)
		for _, k := range []int{n - 1, n / 2} {
			var p h1Head
			if m, err := parseResponseHead(b[:k:k], &p); m != 0 || err != nil {
				t.Fatalf("prefix of %d bytes of a %d-byte head = %d, %v", k, n, m, err)
			}
		}
		fields := fieldsOf(b, &h)
		out := appendResponseHead(nil, b, &h, true, []byte("serin=b"))
		want := append(forwardedFields(fields, []string{"connection", "keep-alive", "proxy-connection",
			"proxy-authenticate", "upgrade"}, "", false), wantField{"Set-Cookie", "serin=b"}, wantField{"Connection", "close"})
		var fwd h1Head
		m, err := parseResponseHead(out, &fwd)
		if len(want) > maxFields {
			if err == nil {
				t.Fatalf("reparse of %d fields succeeded", len(want))
			}
			return
		}
		if m != len(out) || err != nil {
			t.Fatalf("reparse of %q = %d, %v", out, m, err)
		}
		if fwd.status != h.status || !bytes.Equal(fwd.reason.of(out), h.reason.of(b)) {
			t.Fatalf("status line changed: %q", out)
		}
		if got := fieldsOf(out, &fwd); !slices.Equal(got, want) {
			t.Fatalf("forwarded fields = %q\nwant %q", got, want)
		}
		if fwd.contentLength != h.contentLength || fwd.chunked != h.chunked || !fwd.close {
			t.Fatalf("forwarded framing: cl %d chunked %t close %t; was cl %d chunked %t",
				fwd.contentLength, fwd.chunked, fwd.close, h.contentLength, h.chunked)
		}
	})
}
