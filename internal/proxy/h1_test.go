package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type wantField struct{ name, value string }

// headCase is a valid head and what parsing it must yield.
type headCase struct {
	name string
	in   string // the head
	tail string // bytes after the head (a body or the next message)

	method, target string
	status         int
	reason         string
	minor          int
	fields         []wantField

	contentLength int64
	chunked       bool
	close         bool
	upgrade       bool
	expect        bool

	// noStd marks heads that net/http reads differently on purpose.
	noStd bool
}

func fieldsOf(b []byte, h *h1Head) []wantField {
	var fs []wantField
	for i := range h.nfields {
		f := h.fields[i]
		fs = append(fs, wantField{string(f.name.of(b)), string(f.value.of(b))})
	}
	return fs
}

func manyFields(n int) (string, []wantField) {
	var sb strings.Builder
	var fs []wantField
	for i := range n {
		k, v := "X-F"+strconv.Itoa(i), strconv.Itoa(i)
		sb.WriteString(k + ": " + v + "\r\n")
		fs = append(fs, wantField{k, v})
	}
	return sb.String(), fs
}

func requestCases() []headCase {
	many, manyWant := manyFields(maxFields)
	return []headCase{
		{
			name: "typical GET",
			in: "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n" +
				"Accept-Encoding: gzip\r\nCookie: session=abc; canary=\"on\"\r\nX-Request-Id: 42\r\n\r\n",
			method: "GET", target: "/api/v1/items?id=7", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "example.com"}, {"User-Agent", "curl/8.5.0"}, {"Accept", "*/*"},
				{"Accept-Encoding", "gzip"}, {"Cookie", `session=abc; canary="on"`}, {"X-Request-Id", "42"}},
		},
		{
			name: "POST with Content-Length and pipelined tail",
			in:   "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", tail: "helloGET / HTTP/1.1\r\n",
			method: "POST", target: "/submit", minor: 1, contentLength: 5,
			fields: []wantField{{"Host", "h"}, {"Content-Length", "5"}},
		},
		{
			name:   "chunked",
			in:     "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
			tail:   "0\r\n\r\n",
			method: "PUT", target: "/up", minor: 1, contentLength: -1, chunked: true,
			fields: []wantField{{"Host", "h"}, {"Transfer-Encoding", "chunked"}},
		},
		{
			name:   "gzip then chunked",
			in:     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: CHUNKED\r\n\r\n",
			method: "POST", target: "/", minor: 1, contentLength: -1, chunked: true,
			fields: []wantField{{"Host", "h"}, {"Transfer-Encoding", "gzip"}, {"transfer-encoding", "CHUNKED"}},
			noStd:  true, // net/http supports chunked alone
		},
		{
			name:   "HTTP/1.0 closes",
			in:     "GET / HTTP/1.0\r\n\r\n",
			method: "GET", target: "/", minor: 0, contentLength: -1, close: true,
		},
		{
			name:   "HTTP/1.0 keep-alive",
			in:     "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			method: "GET", target: "/", minor: 0, contentLength: -1,
			fields: []wantField{{"Connection", "Keep-Alive"}},
		},
		{
			name:   "Connection close among tokens",
			in:     "GET / HTTP/1.1\r\nHost: h\r\nConnection: x-a, CLOSE\r\n\r\n",
			method: "GET", target: "/", minor: 1, contentLength: -1, close: true,
			fields: []wantField{{"Host", "h"}, {"Connection", "x-a, CLOSE"}},
		},
		{
			name:   "websocket upgrade",
			in:     "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			method: "GET", target: "/ws", minor: 1, contentLength: -1, upgrade: true,
			fields: []wantField{{"Host", "h"}, {"Connection", "keep-alive, Upgrade"}, {"Upgrade", "websocket"}},
		},
		{
			name:   "Connection upgrade without Upgrade field",
			in:     "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n",
			method: "GET", target: "/", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "h"}, {"Connection", "upgrade"}},
		},
		{
			name:   "expect 100-continue",
			in:     "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n",
			method: "POST", target: "/", minor: 1, contentLength: 10, expect: true,
			fields: []wantField{{"Host", "h"}, {"Expect", "100-Continue"}, {"Content-Length", "10"}},
		},
		{
			name:   "expect ignored in HTTP/1.0",
			in:     "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
			method: "POST", target: "/", minor: 0, contentLength: 0, close: true,
			fields: []wantField{{"Expect", "100-continue"}, {"Content-Length", "0"}},
		},
		{
			name:   "bare LF line ends and optional whitespace",
			in:     "GET / HTTP/1.1\nHost:h\nX-A: \t a b \t\nX-Empty:\n\n",
			method: "GET", target: "/", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "h"}, {"X-A", "a b"}, {"X-Empty", ""}},
		},
		{
			name:   "leading empty lines",
			in:     "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			method: "GET", target: "/", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "h"}},
			noStd:  true,
		},
		{
			name:   "identical Content-Length fields",
			in:     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n",
			method: "POST", target: "/", minor: 1, contentLength: 3,
			fields: []wantField{{"Host", "h"}, {"Content-Length", "3"}, {"Content-Length", "003"}},
			noStd:  true, // net/http folds them into one field
		},
		{
			name:   "Content-Length list",
			in:     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7\r\n\r\n",
			method: "POST", target: "/", minor: 1, contentLength: 7,
			fields: []wantField{{"Host", "h"}, {"Content-Length", "7 , 7"}},
			noStd:  true,
		},
		{
			name:   "target forms and obs-text",
			in:     "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n",
			method: "OPTIONS", target: "*", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "h"}, {"X-Name", "caf\xc3\xa9"}},
		},
		{
			name:   "absolute form and custom method",
			in:     "PURGE http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
			method: "PURGE", target: "http://example.com/a?b", minor: 1, contentLength: -1,
			fields: []wantField{{"Host", "example.com"}},
		},
		{
			name:   "maxFields fields",
			in:     "GET / HTTP/1.1\r\n" + many + "\r\n",
			method: "GET", target: "/", minor: 1, contentLength: -1, fields: manyWant,
		},
	}
}

func responseCases() []headCase {
	return []headCase{
		{
			name: "200 with Content-Length",
			in:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\n", tail: "hi",
			status: 200, reason: "OK", minor: 1, contentLength: 2,
			fields: []wantField{{"Content-Type", "text/plain"}, {"Content-Length", "2"}, {"Date", "Mon, 02 Jan 2006 15:04:05 GMT"}},
		},
		{
			name:   "reason with spaces",
			in:     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
			status: 404, reason: "Not Found", minor: 1, contentLength: 0,
			fields: []wantField{{"Content-Length", "0"}},
		},
		{
			name:   "empty reason",
			in:     "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
			status: 200, minor: 1, contentLength: 0,
			fields: []wantField{{"Content-Length", "0"}},
		},
		{
			name:   "no space before empty reason",
			in:     "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n",
			status: 503, minor: 1, contentLength: 0,
			fields: []wantField{{"Content-Length", "0"}},
		},
		{
			name: "chunked",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", tail: "0\r\n\r\n",
			status: 200, reason: "OK", minor: 1, contentLength: -1, chunked: true,
			fields: []wantField{{"Transfer-Encoding", "chunked"}},
		},
		{
			name:   "Transfer-Encoding wins over Content-Length",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, reason: "OK", minor: 1, contentLength: -1, chunked: true,
			fields: []wantField{{"Content-Length", "10"}, {"Transfer-Encoding", "chunked"}},
			noStd:  true,
		},
		{
			name:   "non-chunked coding reads until close",
			in:     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
			status: 200, reason: "OK", minor: 1, contentLength: -1,
			fields: []wantField{{"Transfer-Encoding", "gzip"}},
			noStd:  true,
		},
		{
			name:   "HTTP/1.0 closes",
			in:     "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
			status: 200, reason: "OK", minor: 0, contentLength: 1, close: true,
			fields: []wantField{{"Content-Length", "1"}},
		},
		{
			name:   "Connection close",
			in:     "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n",
			status: 500, reason: "Internal Server Error", minor: 1, contentLength: -1, close: true,
			fields: []wantField{{"Connection", "close"}},
		},
		{
			name:   "switching protocols",
			in:     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			status: 101, reason: "Switching Protocols", minor: 1, contentLength: -1, upgrade: true,
			fields: []wantField{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
		},
		{
			name:   "body until close", // found by FuzzParseResponseHead
			in:     "HTTP/1.1 200 \n\n",
			status: 200, minor: 1, contentLength: -1,
		},
		{
			name:   "bare LF",
			in:     "HTTP/1.1 204 No Content\nX-A: b\n\n",
			status: 204, reason: "No Content", minor: 1, contentLength: -1,
			fields: []wantField{{"X-A", "b"}},
		},
	}
}

func checkHead(t *testing.T, tc headCase, b []byte, h *h1Head, req bool) {
	t.Helper()
	if req {
		if got := string(h.method.of(b)); got != tc.method {
			t.Errorf("method = %q, want %q", got, tc.method)
		}
		if got := string(h.target.of(b)); got != tc.target {
			t.Errorf("target = %q, want %q", got, tc.target)
		}
	} else {
		if h.status != tc.status {
			t.Errorf("status = %d, want %d", h.status, tc.status)
		}
		if got := string(h.reason.of(b)); got != tc.reason {
			t.Errorf("reason = %q, want %q", got, tc.reason)
		}
	}
	if h.minor != tc.minor {
		t.Errorf("minor = %d, want %d", h.minor, tc.minor)
	}
	if got := fieldsOf(b, h); !slices.Equal(got, tc.fields) {
		t.Errorf("fields = %q\nwant %q", got, tc.fields)
	}
	if h.length != len(tc.in) {
		t.Errorf("length = %d, want %d", h.length, len(tc.in))
	}
	if h.contentLength != tc.contentLength || h.chunked != tc.chunked || h.close != tc.close ||
		h.upgrade != tc.upgrade || h.expectContinue != tc.expect {
		t.Errorf("framing = cl %d chunked %t close %t upgrade %t expect %t, want cl %d chunked %t close %t upgrade %t expect %t",
			h.contentLength, h.chunked, h.close, h.upgrade, h.expectContinue,
			tc.contentLength, tc.chunked, tc.close, tc.upgrade, tc.expect)
	}
}

func testParse(t *testing.T, cases []headCase, parse func([]byte, *h1Head) (int, error), req bool) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in + tc.tail)
			var h h1Head
			n, err := parse(b, &h)
			if err != nil || n != len(tc.in) {
				t.Fatalf("parse = %d, %v; want %d, nil", n, err, len(tc.in))
			}
			checkHead(t, tc, b, &h, req)
			// Every proper prefix of the head is incomplete, and the same
			// h1Head parses the whole head again afterwards.
			for k := range len(tc.in) {
				if n, err := parse(b[:k:k], &h); n != 0 || err != nil {
					t.Fatalf("parse(prefix %d) = %d, %v; want 0, nil", k, n, err)
				}
			}
			if n, err := parse(b, &h); n != len(tc.in) || err != nil {
				t.Fatalf("reparse = %d, %v", n, err)
			}
			checkHead(t, tc, b, &h, req)
		})
	}
}

func TestParseRequestHead(t *testing.T) { testParse(t, requestCases(), parseRequestHead, true) }

func TestParseResponseHead(t *testing.T) { testParse(t, responseCases(), parseResponseHead, false) }

type errorCase struct {
	name   string
	in     string
	status int
	msg    string // a substring of the error message
}

func TestParseRequestHeadErrors(t *testing.T) {
	tooMany, _ := manyFields(maxFields + 1)
	cases := []errorCase{
		{"double space", "GET  / HTTP/1.1\r\n\r\n", 400, "empty request target"},
		{"space after version", "GET / HTTP/1.1 \r\n\r\n", 400, "malformed HTTP version"},
		{"no version", "GET /\r\n\r\n", 400, "missing HTTP version"},
		{"bad method", "G(T / HTTP/1.1\r\n\r\n", 400, "invalid method"},
		{"leading space", " GET / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, "unsupported HTTP version"},
		{"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505, "unsupported HTTP version"},
		{"HTTP/3", "GET / HTTP/3\r\n\r\n", 505, "unsupported HTTP version"},
		{"lower-case version", "GET / http/1.1\r\n\r\n", 400, "malformed HTTP version"},
		{"long version", "GET / HTTP/1.10\r\n\r\n", 400, "malformed HTTP version"},
		{"control in target", "GET /a\x01b HTTP/1.1\r\n\r\n", 400, "invalid character in request target"},
		{"bare CR in request line", "GET /a\rb HTTP/1.1\r\n\r\n", 400, "invalid character in request target"},
		{"bare CR before request line", "\rGET / HTTP/1.1\r\n\r\n", 400, "bare CR"},
		{"space in field name", "GET / HTTP/1.1\r\nFo o: bar\r\n\r\n", 400, `invalid header field name "Fo o"`},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, `whitespace before colon in header field "Host "`},
		{"tab before colon", "GET / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400, "whitespace before colon"},
		{"missing colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400, "missing colon"},
		{"empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n", 400, "empty header field name"},
		{"obs-fold", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400, "obsolete line folding"},
		{"whitespace before first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obsolete line folding"},
		{"NUL in value", "GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, `invalid character in value of header field "X-A"`},
		{"bare CR in value", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "invalid character in value"},
		{"CR CR LF", "GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", 400, "invalid character in value"},
		{"too many fields", "GET / HTTP/1.1\r\n" + tooMany + "\r\n", 431, "more than 100 header fields"},
		{"letters in Content-Length", "POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n", 400, "invalid Content-Length"},
		{"negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
		{"plus Content-Length", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400, "invalid Content-Length"},
		{"overflowing Content-Length", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, "invalid Content-Length"},
		{"empty Content-Length", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length"},
		{"empty Content-Length element", "POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", 400, "invalid Content-Length"},
		{"differing Content-Length fields", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "conflicting Content-Length"},
		{"differing Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400, "conflicting Content-Length"},
		{"both framings", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"},
		{"both framings, TE first", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"},
		{"unsupported coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported transfer coding"},
		{"chunked not last", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501, "unsupported transfer coding"},
		{"chunked with parameter", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 501, "unsupported transfer coding"},
		{"chunked twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "more than once"},
		{"empty Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", 400, "empty Transfer-Encoding"},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkHeadError(t, parseRequestHead, tc)
		})
	}
}

func TestParseResponseHeadErrors(t *testing.T) {
	tooMany, _ := manyFields(maxFields + 1)
	cases := []errorCase{
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 502, "malformed status line"},
		{"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 502, "malformed status line"},
		{"status below 100", "HTTP/1.1 099 Odd\r\n\r\n", 502, "malformed status line"},
		{"missing status", "HTTP/1.1 OK\r\n\r\n", 502, "malformed status line"},
		{"double space", "HTTP/1.1  200 OK\r\n\r\n", 502, "malformed status line"},
		{"no space after status", "HTTP/1.1 200OK\r\n\r\n", 502, "malformed status line"},
		{"HTTP/2", "HTTP/2 200 OK\r\n\r\n", 502, "malformed status line"},
		{"HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", 502, "unsupported HTTP version"},
		{"control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 502, "invalid character in reason phrase"},
		{"bad field name", "HTTP/1.1 200 OK\r\nA(b: c\r\n\r\n", 502, "invalid header field name"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n", 502, "obsolete line folding"},
		{"too many fields", "HTTP/1.1 200 OK\r\n" + tooMany + "\r\n", 502, "more than 100 header fields"},
		{"differing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 502, "conflicting Content-Length"},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 502, "more than once"},
		// Found by FuzzParseResponseHead: net/http ignores the field.
		{"Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 502, "HTTP/1.0 response"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkHeadError(t, parseResponseHead, tc)
		})
	}
}

func checkHeadError(t *testing.T, parse func([]byte, *h1Head) (int, error), tc errorCase) {
	t.Helper()
	var h h1Head
	n, err := parse([]byte(tc.in), &h)
	var he *headError
	if !errors.As(err, &he) {
		t.Fatalf("parse(%q) = %d, %v; want a *headError", tc.in, n, err)
	}
	if n != 0 || he.status != tc.status || !strings.Contains(he.Error(), tc.msg) {
		t.Fatalf("parse(%q) = %d, %d %q; want 0, %d containing %q", tc.in, n, he.status, he.Error(), tc.status, tc.msg)
	}
}

// TestParseRequestHeadAgreesWithNetHTTP reads every valid request head
// with net/http too, and the rewritten head as well.
func TestParseRequestHeadAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range requestCases() {
		if tc.noStd {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in + tc.tail)
			var h h1Head
			if _, err := parseRequestHead(b, &h); err != nil {
				t.Fatal(err)
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("net/http: %v", err)
			}
			if req.Method != string(h.method.of(b)) || req.RequestURI != string(h.target.of(b)) {
				t.Errorf("net/http read %s %s", req.Method, req.RequestURI)
			}
			compareStdHeader(t, b, &h, req.Header, req.Host, false)
			wantCL := h.contentLength
			if wantCL < 0 && !h.chunked {
				wantCL = 0
			}
			if req.ContentLength != wantCL || slices.Equal(req.TransferEncoding, []string{"chunked"}) != h.chunked {
				t.Errorf("net/http framing: cl %d te %q", req.ContentLength, req.TransferEncoding)
			}
			if req.Close != h.close {
				t.Errorf("net/http close = %t", req.Close)
			}

			out := appendRequestHead(nil, b, &h, []byte("192.0.2.1"))
			fwd, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
			if err != nil {
				t.Fatalf("net/http reading %q: %v", out, err)
			}
			if fwd.Method != req.Method || fwd.RequestURI != req.RequestURI || fwd.ProtoMinor != 1 {
				t.Errorf("forwarded request line: %s %s %s", fwd.Method, fwd.RequestURI, fwd.Proto)
			}
			if fwd.ContentLength != req.ContentLength || fwd.Close {
				t.Errorf("forwarded framing: cl %d close %t", fwd.ContentLength, fwd.Close)
			}
			if got := fwd.Header.Get("X-Forwarded-For"); !strings.HasSuffix(got, "192.0.2.1") {
				t.Errorf("forwarded X-Forwarded-For = %q", got)
			}
		})
	}
}

func TestParseResponseHeadAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range responseCases() {
		if tc.noStd {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in + tc.tail)
			var h h1Head
			if _, err := parseResponseHead(b, &h); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
			if err != nil {
				t.Fatalf("net/http: %v", err)
			}
			if resp.StatusCode != h.status || resp.ProtoMinor != h.minor {
				t.Errorf("net/http read %d %s", resp.StatusCode, resp.Proto)
			}
			compareStdHeader(t, b, &h, resp.Header, "", true)
			agreeWithReadResponse(t, b[:h.length], &h)

			out := appendResponseHead(nil, b, &h, true, []byte("serin=a"))
			fwd, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
			if err != nil {
				t.Fatalf("net/http reading %q: %v", out, err)
			}
			if fwd.StatusCode != h.status || !fwd.Close || fwd.Header.Get("Set-Cookie") != "serin=a" {
				t.Errorf("forwarded response: %d close %t set-cookie %q", fwd.StatusCode, fwd.Close, fwd.Header.Get("Set-Cookie"))
			}
		})
	}
}

// compareStdHeader checks that net/http read the same fields. net/http
// moves Host and Transfer-Encoding out of the header, and for a response
// "Connection: close" too.
func compareStdHeader(t *testing.T, b []byte, h *h1Head, std http.Header, host string, resp bool) {
	t.Helper()
	want := http.Header{}
	for _, f := range fieldsOf(b, h) {
		switch http.CanonicalHeaderKey(f.name) {
		case "Host":
			if host != f.value {
				t.Errorf("net/http host = %q, want %q", host, f.value)
			}
		case "Transfer-Encoding":
		case "Connection":
			if !resp || !strings.EqualFold(f.value, "close") {
				want.Add(f.name, f.value)
			}
		default:
			want.Add(f.name, f.value)
		}
	}
	std.Del("Transfer-Encoding")
	if len(want) != len(std) {
		t.Errorf("net/http header = %q\nwant %q", std, want)
	}
	for k, v := range want {
		if !slices.Equal(std[k], v) {
			t.Errorf("net/http %s = %q, want %q", k, std[k], v)
		}
	}
}

func TestAppendRequestHead(t *testing.T) {
	cases := []struct{ name, in, clientIP, want string }{
		{
			name: "hop-by-hop, Connection-named and one X-Forwarded-For",
			in: "GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nx-secret: s\r\n" +
				"X-Forwarded-For: 198.51.100.7\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n" +
				"TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nAccept: */*\r\n\r\n",
			clientIP: "10.0.0.9",
			want: "GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.7, 10.0.0.9\r\nAccept: */*\r\n" +
				"X-Forwarded-Proto: http\r\n\r\n",
		},
		{
			name: "two X-Forwarded-For fields and X-Forwarded-Proto present",
			in: "POST /p HTTP/1.0\r\nx-forwarded-for: 198.51.100.7\r\nContent-Length: 3\r\nX-Forwarded-Proto: https\r\n" +
				"X-Forwarded-For: 203.0.113.1, 203.0.113.2\r\n\r\n",
			clientIP: "10.0.0.9",
			want: "POST /p HTTP/1.1\r\nX-Forwarded-For: 198.51.100.7, 203.0.113.1, 203.0.113.2, 10.0.0.9\r\n" +
				"Content-Length: 3\r\nX-Forwarded-Proto: https\r\n\r\n",
		},
		{
			name:     "no X-Forwarded-For, original spelling",
			in:       "GET /?q=1 HTTP/1.1\r\nhOsT:   h  \r\nuser-agent: x\r\n\r\n",
			clientIP: "2001:db8::1",
			want:     "GET /?q=1 HTTP/1.1\r\nhOsT: h\r\nuser-agent: x\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\n\r\n",
		},
		{
			name: "Connection cannot drop framing, Host or X-Forwarded fields",
			in: "POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length, host, transfer-encoding, x-forwarded-for, x-forwarded-proto, cookie\r\n" +
				"Transfer-Encoding: chunked\r\nCookie: a=1\r\nX-Forwarded-Proto: https\r\n\r\n",
			clientIP: "10.0.0.9",
			want: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-Proto: https\r\n" +
				"X-Forwarded-For: 10.0.0.9\r\n\r\n",
		},
		{
			name:     "empty X-Forwarded-For values are skipped",
			in:       "GET / HTTP/1.1\r\nX-Forwarded-For:\r\nHost: h\r\n\r\n",
			clientIP: "10.0.0.9",
			want:     "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			var h h1Head
			if _, err := parseRequestHead(b, &h); err != nil {
				t.Fatal(err)
			}
			prefix := []byte("kept")
			got := appendRequestHead(prefix, b, &h, []byte(tc.clientIP))
			if string(got) != "kept"+tc.want {
				t.Errorf("appendRequestHead =\n%q\nwant\n%q", got, "kept"+tc.want)
			}
		})
	}
}

func TestAppendResponseHead(t *testing.T) {
	cases := []struct {
		name, in  string
		close     bool
		setCookie []byte
		want      string
	}{
		{
			name: "hop-by-hop and Connection-named",
			in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nKeep-Alive: timeout=5\r\nX-Internal: 1\r\n" +
				"Proxy-Authenticate: Basic\r\nProxy-Connection: x\r\nUpgrade: h2\r\nContent-Length: 2\r\nTrailer: X-T\r\nTE: x\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTrailer: X-T\r\nTE: x\r\n\r\n",
		},
		{
			name:      "set cookie and close, HTTP/1.0 upstream with empty reason",
			in:        "HTTP/1.0 302\r\nLocation: /a\r\nSet-Cookie: s=1\r\n\r\n",
			close:     true,
			setCookie: []byte("serin-canary=stable; Path=/; Max-Age=60"),
			want: "HTTP/1.1 302 \r\nLocation: /a\r\nSet-Cookie: s=1\r\nSet-Cookie: serin-canary=stable; Path=/; Max-Age=60\r\n" +
				"Connection: close\r\n\r\n",
		},
		{
			name: "Content-Length dropped next to Transfer-Encoding",
			in:   "HTTP/1.1 201 Created\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nConnection: content-length\r\n\r\n",
			want: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			var h h1Head
			if _, err := parseResponseHead(b, &h); err != nil {
				t.Fatal(err)
			}
			if got := appendResponseHead(nil, b, &h, tc.close, tc.setCookie); string(got) != tc.want {
				t.Errorf("appendResponseHead =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestHeadValueAndCookie(t *testing.T) {
	b := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-Canary: always\r\nx-canary: second\r\n" +
		"Cookie: a=1; session = abc ;quoted=\"q v\"\r\ncookie: b=2;flag; empty=\r\n\r\n")
	var h h1Head
	if _, err := parseRequestHead(b, &h); err != nil {
		t.Fatal(err)
	}
	values := []struct {
		name, want string
		ok         bool
	}{
		{"x-CANARY", "always", true},
		{"host", "h", true},
		{"X-Missing", "", false},
		{"X-Canar", "", false},
	}
	for _, v := range values {
		if got, ok := h.value(b, []byte(v.name)); string(got) != v.want || ok != v.ok {
			t.Errorf("value(%q) = %q, %t; want %q, %t", v.name, got, ok, v.want, v.ok)
		}
	}
	cookies := []struct {
		name, want string
		ok         bool
	}{
		{"a", "1", true},
		{"session", "abc", true},
		{"quoted", "q v", true},
		{"b", "2", true},
		{"empty", "", true},
		{"flag", "", false},
		{"A", "", false},
		{"missing", "", false},
	}
	for _, c := range cookies {
		if got, ok := h.cookie(b, []byte(c.name)); string(got) != c.want || ok != c.ok {
			t.Errorf("cookie(%q) = %q, %t; want %q, %t", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestH1TcharMatchesRFC(t *testing.T) {
	for c := range 256 {
		want := c < 128 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0)
		if isTchar(byte(c)) != want {
			t.Errorf("isTchar(%q) = %t", byte(c), !want)
		}
	}
}

// typicalChunked is a chunked body of two chunks and a trailer.
func typicalChunked() []byte {
	return []byte("1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n400\r\n" + strings.Repeat("0123456789abcdef", 64) +
		"\r\n0\r\nX-Checksum: 1\r\n\r\n")
}

func TestH1ParseAndAppendDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	req, resp := []byte(typicalRequest), []byte(typicalResponse)
	ip, name, cookie, setCookie := []byte("10.1.2.3"), []byte("user-agent"), []byte("serin-canary"), []byte("serin-canary=stable")
	dst := make([]byte, 0, 1024)
	var h h1Head
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := parseRequestHead(req, &h); err != nil {
			t.Fatal(err)
		}
		if _, ok := h.value(req, name); !ok {
			t.Fatal("no User-Agent")
		}
		if v, ok := h.cookie(req, cookie); !ok || string(v) != "canary" {
			t.Fatalf("cookie = %q", v)
		}
		dst = appendRequestHead(dst[:0], req, &h, ip)
		if _, err := parseResponseHead(resp, &h); err != nil {
			t.Fatal(err)
		}
		dst = appendResponseHead(dst[:0], resp, &h, false, setCookie)
	})
	if allocs != 0 {
		t.Fatalf("parse and append allocate %v times", allocs)
	}
}

func BenchmarkParseRequestHead(b *testing.B) {
	req := []byte(typicalRequest)
	var h h1Head
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := parseRequestHead(req, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponseHead(b *testing.B) {
	resp := []byte(typicalResponse)
	var h h1Head
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		if _, err := parseResponseHead(resp, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequestHead(b *testing.B) {
	req, ip := []byte(typicalRequest), []byte("10.1.2.3")
	var h h1Head
	if _, err := parseRequestHead(req, &h); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = appendRequestHead(dst[:0], req, &h, ip)
	}
}

func BenchmarkAppendResponseHead(b *testing.B) {
	resp, setCookie := []byte(typicalResponse), []byte("serin-canary=stable")
	var h h1Head
	if _, err := parseResponseHead(resp, &h); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = appendResponseHead(dst[:0], resp, &h, false, setCookie)
	}
}

func BenchmarkHeadCookie(b *testing.B) {
	req, name := []byte(typicalRequest), []byte("serin-canary")
	var h h1Head
	if _, err := parseRequestHead(req, &h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := h.cookie(req, name); !ok {
			b.Fatal("no cookie")
		}
	}
}

func asciiLower(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, []byte(s)))
}

// forwardedFields computes, independently of the rewriter, the fields a
// forwarded head must carry: the fields minus the hop-by-hop ones and
// those a Connection token names (framing, Host and X-Forwarded fields
// excepted), with X-Forwarded-For merged for a request.
func forwardedFields(fields []wantField, hop []string, clientIP string, req bool) []wantField {
	var named []string
	hasTE := false
	for _, f := range fields {
		switch asciiLower(f.name) {
		case "connection":
			for tok := range strings.SplitSeq(f.value, ",") {
				named = append(named, asciiLower(strings.Trim(tok, " \t")))
			}
		case "transfer-encoding":
			hasTE = true
		}
	}
	keep := []string{"host", "content-length", "transfer-encoding", "x-forwarded-for", "x-forwarded-proto"}
	var out []wantField
	var xff []string
	xffAt, xfp := -1, false
	for _, f := range fields {
		name := asciiLower(f.name)
		switch {
		case slices.Contains(hop, name):
			continue
		case !slices.Contains(keep, name) && slices.Contains(named, name):
			continue
		case !req && hasTE && name == "content-length":
			continue
		case req && name == "x-forwarded-for":
			if f.value != "" {
				xff = append(xff, f.value)
			}
			if xffAt < 0 {
				xffAt = len(out)
				out = append(out, wantField{})
			}
			continue
		case name == "x-forwarded-proto":
			xfp = true
		}
		out = append(out, f)
	}
	if !req {
		return out
	}
	xffField := wantField{"X-Forwarded-For", strings.Join(append(xff, clientIP), ", ")}
	if xffAt >= 0 {
		out[xffAt] = xffField
	} else {
		out = append(out, xffField)
	}
	if !xfp {
		out = append(out, wantField{"X-Forwarded-Proto", "http"})
	}
	return out
}
