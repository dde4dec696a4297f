package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// This file and its neighbours hold the byte-level HTTP/1.1 pieces of the
// event-loop fast path: a head parser that records spans into the caller's
// buffer (here), the rewriters that produce the heads sent upstream and
// back to the client (h1rewrite.go), and a scanner that follows chunked
// framing as the body passes through (h1chunk.go).
// None of them allocates once the caller's buffers are large enough.
//
// The parser is strict where two HTTP implementations reading the same
// bytes could disagree about where a message ends (Content-Length and
// Transfer-Encoding, line folding, whitespace before the colon, bare CR,
// chunk lines) and lenient where real clients differ harmlessly (bare LF
// ending a head line, leading empty lines, raw UTF-8 in a target).

// span is a byte range [start, end) within the buffer a head was parsed from.
type span struct{ start, end int32 }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// h1Field is one header field line: name and value (value trimmed of optional whitespace).
type h1Field struct{ name, value span }

// maxFields bounds the header fields of one head (431 / 502 beyond it).
const maxFields = 100

// maxChunkLine bounds the bytes of a chunk-size line or a trailer field
// line, line ending excluded.
const maxChunkLine = 4096

// fieldKind classifies the field names the proxy acts on; kindOther is
// every other name.
type fieldKind uint8

const (
	kindOther fieldKind = iota
	kindConnection
	kindKeepAlive
	kindProxyConnection
	kindProxyAuthorization
	kindProxyAuthenticate
	kindTE
	kindTrailer
	kindUpgrade
	kindContentLength
	kindTransferEncoding
	kindXForwardedFor
	kindXForwardedProto
	kindCookie
	kindExpect
	kindHost
)

func (k fieldKind) bit() uint32 { return 1 << k }

const (
	// requestHop and responseHop are the hop-by-hop fields dropped when
	// forwarding a request or a response.
	requestHop = 1<<kindConnection | 1<<kindKeepAlive | 1<<kindProxyConnection |
		1<<kindProxyAuthorization | 1<<kindTE | 1<<kindTrailer | 1<<kindUpgrade
	responseHop = 1<<kindConnection | 1<<kindKeepAlive | 1<<kindProxyConnection |
		1<<kindProxyAuthenticate | 1<<kindUpgrade
	// protected fields are kept even when a Connection token names them:
	// dropping the framing fields would desynchronise the next hop from
	// the body the proxy forwards as it came, and the proxy sets the
	// X-Forwarded fields itself.
	protected = 1<<kindHost | 1<<kindContentLength | 1<<kindTransferEncoding |
		1<<kindXForwardedFor | 1<<kindXForwardedProto
)

// classify returns the kind of a field name.
func classify(name []byte) fieldKind {
	switch len(name) {
	case 2:
		if equalFoldLower(name, "te") {
			return kindTE
		}
	case 4:
		if equalFoldLower(name, "host") {
			return kindHost
		}
	case 6:
		switch {
		case equalFoldLower(name, "cookie"):
			return kindCookie
		case equalFoldLower(name, "expect"):
			return kindExpect
		}
	case 7:
		switch {
		case equalFoldLower(name, "upgrade"):
			return kindUpgrade
		case equalFoldLower(name, "trailer"):
			return kindTrailer
		}
	case 10:
		switch {
		case equalFoldLower(name, "connection"):
			return kindConnection
		case equalFoldLower(name, "keep-alive"):
			return kindKeepAlive
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			return kindContentLength
		}
	case 15:
		if equalFoldLower(name, "x-forwarded-for") {
			return kindXForwardedFor
		}
	case 16:
		if equalFoldLower(name, "proxy-connection") {
			return kindProxyConnection
		}
	case 17:
		switch {
		case equalFoldLower(name, "transfer-encoding"):
			return kindTransferEncoding
		case equalFoldLower(name, "x-forwarded-proto"):
			return kindXForwardedProto
		}
	case 18:
		if equalFoldLower(name, "proxy-authenticate") {
			return kindProxyAuthenticate
		}
	case 19:
		if equalFoldLower(name, "proxy-authorization") {
			return kindProxyAuthorization
		}
	}
	return kindOther
}

// h1Head is a parsed request or response head. Reusable: parse* resets it.
type h1Head struct {
	fields  [maxFields]h1Field
	kinds   [maxFields]fieldKind
	nfields int

	// Requests: method and target. Responses: status code and reason phrase.
	method, target span
	status         int
	reason         span
	minor          int // 0 for HTTP/1.0, 1 for HTTP/1.1

	length         int   // bytes of the whole head, including the blank line that ends it
	contentLength  int64 // -1 when absent
	chunked        bool  // Transfer-Encoding ends in chunked
	close          bool  // the connection closes after this message: "Connection: close", or HTTP/1.0 without "Connection: keep-alive"
	upgrade        bool  // "Connection" lists "upgrade" and an Upgrade field is present
	expectContinue bool  // request has "Expect: 100-continue"

	seen      uint32 // fieldKind bits of the fields present
	connOther bool   // Connection lists tokens other than close, keep-alive and upgrade
}

func (h *h1Head) reset() {
	h.nfields = 0
	h.method, h.target, h.reason = span{}, span{}, span{}
	h.status, h.minor, h.length = 0, 0, 0
	h.contentLength = -1
	h.chunked, h.close, h.upgrade, h.expectContinue = false, false, false, false
	h.seen, h.connOther = 0, false
}

// headError is a malformed or oversized head: status is what a proxy
// answers (400, 431, 501, 505 for requests; 502 for a bad response), msg
// says what is wrong.
type headError struct {
	status int
	msg    string
}

func (e *headError) Error() string { return e.msg }

// headErr builds a headError; a bad response always answers 502.
func headErr(req bool, status int, format string, args ...any) error {
	if !req {
		status = 502
	}
	return &headError{status: status, msg: fmt.Sprintf(format, args...)}
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// limitHead keeps b within the range of a span.
func limitHead(b []byte) []byte {
	if len(b) > math.MaxInt32 {
		return b[:math.MaxInt32]
	}
	return b
}

// nextLine finds the line starting at i. It returns the end of its
// content (before CRLF or a bare LF) and the start of the next line, or
// -1, -1 when b holds no line end yet.
func nextLine(b []byte, i int) (end, next int) {
	k := bytes.IndexByte(b[i:], '\n')
	if k < 0 {
		return -1, -1
	}
	end = i + k
	next = end + 1
	if end > i && b[end-1] == '\r' {
		end--
	}
	return end, next
}

// parseRequestHead parses the request head at the start of b into h.
// It returns (0, nil) when b does not yet hold the whole head (the caller
// reads more; if b is already max size, the caller answers 431), and an
// *headError for a malformed head.
func parseRequestHead(b []byte, h *h1Head) (int, error) {
	h.reset()
	b = limitHead(b)
	i := 0
	// RFC 9112 2.2: empty lines before the request line are ignored.
	for i < len(b) && (b[i] == '\n' || b[i] == '\r') {
		if b[i] == '\r' {
			if i+1 == len(b) {
				return 0, nil
			}
			if b[i+1] != '\n' {
				return 0, headErr(true, 400, "bare CR before request line")
			}
			i++
		}
		i++
	}
	end, next := nextLine(b, i)
	if end < 0 {
		return 0, nil
	}
	if err := h.parseRequestLine(b, i, end); err != nil {
		return 0, err
	}
	return h.parseFields(b, next, true)
}

func (h *h1Head) parseRequestLine(b []byte, s, e int) error {
	line := b[s:e]
	i := s
	for i < e && isTchar(b[i]) {
		i++
	}
	if i == s || i == e || b[i] != ' ' {
		if i < e && b[i] != ' ' {
			return headErr(true, 400, "invalid method in request line %q", clip(line))
		}
		return headErr(true, 400, "malformed request line %q", clip(line))
	}
	h.method = span{int32(s), int32(i)}
	t := i + 1
	j := t
	for j < e && b[j] > ' ' && b[j] != 0x7f {
		j++
	}
	switch {
	case j == t:
		return headErr(true, 400, "empty request target in request line %q", clip(line))
	case j == e:
		return headErr(true, 400, "missing HTTP version in request line %q", clip(line))
	case b[j] != ' ':
		return headErr(true, 400, "invalid character in request target %q", clip(b[t:e]))
	}
	h.target = span{int32(t), int32(j)}
	v := b[j+1 : e]
	if len(v) == 8 && string(v[:7]) == "HTTP/1." && (v[7] == '0' || v[7] == '1') {
		h.minor = int(v[7] - '0')
		return nil
	}
	if wellFormedVersion(v) {
		return headErr(true, 505, "unsupported HTTP version %q", clip(v))
	}
	return headErr(true, 400, "malformed HTTP version %q", clip(v))
}

// wellFormedVersion reports whether v is "HTTP/" DIGIT ["." DIGIT].
func wellFormedVersion(v []byte) bool {
	if len(v) < 6 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) {
		return false
	}
	return len(v) == 6 || len(v) == 8 && v[6] == '.' && isDigit(v[7])
}

// parseResponseHead is the same for a response head (status line
// "HTTP/1.x NNN reason"). A response with neither Content-Length nor
// chunked framing ends when the connection closes unless it has no body
// (1xx, 204, 304, or an answer to HEAD); that is the caller's to decide,
// as it knows the request, and close does not reflect it.
func parseResponseHead(b []byte, h *h1Head) (int, error) {
	h.reset()
	b = limitHead(b)
	end, next := nextLine(b, 0)
	if end < 0 {
		return 0, nil
	}
	if err := h.parseStatusLine(b, end); err != nil {
		return 0, err
	}
	return h.parseFields(b, next, false)
}

func (h *h1Head) parseStatusLine(b []byte, e int) error {
	line := b[:e]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || line[9] == '0' {
		return headErr(false, 502, "malformed status line %q", clip(line))
	}
	if line[7] != '0' && line[7] != '1' {
		return headErr(false, 502, "unsupported HTTP version in status line %q", clip(line))
	}
	h.minor = int(line[7] - '0')
	h.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	h.reason = span{int32(e), int32(e)}
	if len(line) == 12 {
		return nil
	}
	if line[12] != ' ' {
		return headErr(false, 502, "malformed status line %q", clip(line))
	}
	for _, c := range line[13:] {
		if isCTL(c) && c != '\t' {
			return headErr(false, 502, "invalid character in reason phrase %q", clip(line[13:]))
		}
	}
	h.reason = span{13, int32(e)}
	return nil
}

// framing gathers what the fields of a head say about the message's
// framing and connection as they are parsed.
type framing struct {
	close, keepAlive, upgrade bool
	expect                    bool
	teCodings, teChunked      int
	teLastChunked             bool
}

// parseFields parses the field lines starting at i up to the empty line
// that ends the head.
func (h *h1Head) parseFields(b []byte, i int, req bool) (int, error) {
	var fr framing
	for {
		if i == len(b) {
			return 0, nil
		}
		switch b[i] {
		case '\r', '\n':
			next := i + 1
			if b[i] == '\r' {
				if next == len(b) {
					return 0, nil
				}
				if b[next] != '\n' {
					return 0, headErr(req, 400, "bare CR in header section")
				}
				next++
			}
			h.length = next
			if err := h.finish(&fr, req); err != nil {
				return 0, err
			}
			return next, nil
		case ' ', '\t':
			return 0, headErr(req, 400, "obsolete line folding in header section")
		}
		colon := i
		for colon < len(b) && isTchar(b[colon]) {
			colon++
		}
		if colon == len(b) {
			return 0, nil
		}
		if b[colon] != ':' || colon == i {
			return 0, fieldNameError(b, i, req)
		}
		// The value runs up to the first control character other than
		// HTAB, which must be the line end.
		vs := colon + 1
		end := vs + findCTL(b[vs:])
		if end == len(b) {
			return 0, nil
		}
		next := end + 1
		switch {
		case b[end] == '\n':
		case b[end] == '\r' && next == len(b):
			return 0, nil
		case b[end] == '\r' && b[next] == '\n':
			next++
		default:
			return 0, headErr(req, 400, "invalid character in value of header field %q", clip(b[i:colon]))
		}
		for vs < end && (b[vs] == ' ' || b[vs] == '\t') {
			vs++
		}
		for end > vs && (b[end-1] == ' ' || b[end-1] == '\t') {
			end--
		}
		if h.nfields == maxFields {
			return 0, headErr(req, 431, "more than %d header fields", maxFields)
		}
		k := classify(b[i:colon])
		h.fields[h.nfields] = h1Field{name: span{int32(i), int32(colon)}, value: span{int32(vs), int32(end)}}
		h.kinds[h.nfields] = k
		h.nfields++
		h.seen |= k.bit()
		if err := h.interpret(&fr, k, b[vs:end], req); err != nil {
			return 0, err
		}
		i = next
	}
}

// fieldNameError describes the malformed field line at i once it is
// complete; until then it returns nil and the caller waits for more.
func fieldNameError(b []byte, i int, req bool) error {
	end, _ := nextLine(b, i)
	if end < 0 {
		return nil
	}
	line := b[i:end]
	k := bytes.IndexByte(line, ':')
	switch {
	case k < 0:
		return headErr(req, 400, "missing colon in header line %q", clip(line))
	case k == 0:
		return headErr(req, 400, "empty header field name in header line %q", clip(line))
	case isTokenWithTrailingSpace(line[:k]):
		return headErr(req, 400, "whitespace before colon in header field %q", clip(line[:k]))
	default:
		return headErr(req, 400, "invalid header field name %q", clip(line[:k]))
	}
}

// findCTL returns the index of the first control character other than
// HTAB in b, or DEL, or len(b). It tests eight bytes at a time.
func findCTL(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for i < len(b) {
		if i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			del := w ^ 0x7f*ones
			// Any byte below 0x20, or any byte equal to 0x7f.
			if (w-0x20*ones)&^w&highs == 0 && (del-ones)&^del&highs == 0 {
				i += 8
				continue
			}
		}
		for e := min(i+8, len(b)); i < e; i++ {
			if c := b[i]; isCTL(c) && c != '\t' {
				return i
			}
		}
	}
	return len(b)
}

// isTokenWithTrailingSpace reports whether b is a token followed by
// whitespace, as in "Name :".
func isTokenWithTrailingSpace(b []byte) bool {
	e := len(b)
	for e > 0 && (b[e-1] == ' ' || b[e-1] == '\t') {
		e--
	}
	if e == len(b) || e == 0 {
		return false
	}
	for _, c := range b[:e] {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// interpret records what one field says about framing and the connection.
func (h *h1Head) interpret(fr *framing, k fieldKind, v []byte, req bool) error {
	switch k {
	case kindContentLength:
		for elem := range listElements(v) {
			n, ok := parseDecimal(elem)
			if !ok {
				return headErr(req, 400, "invalid Content-Length %q", clip(v))
			}
			if h.contentLength >= 0 && n != h.contentLength {
				return headErr(req, 400, "conflicting Content-Length values %d and %d", h.contentLength, n)
			}
			h.contentLength = n
		}
		if h.contentLength < 0 {
			return headErr(req, 400, "empty Content-Length")
		}
	case kindTransferEncoding:
		for elem := range listElements(v) {
			if len(elem) == 0 {
				continue
			}
			fr.teCodings++
			fr.teLastChunked = equalFoldLower(elem, "chunked")
			if fr.teLastChunked {
				fr.teChunked++
			}
		}
	case kindConnection:
		for elem := range listElements(v) {
			switch {
			case len(elem) == 0:
			case equalFoldLower(elem, "close"):
				fr.close = true
			case equalFoldLower(elem, "keep-alive"):
				fr.keepAlive = true
			case equalFoldLower(elem, "upgrade"):
				fr.upgrade = true
			default:
				h.connOther = true
			}
		}
	case kindExpect:
		if equalFoldLower(v, "100-continue") {
			fr.expect = true
		}
	}
	return nil
}

// finish derives the framing of the message once its head is complete.
func (h *h1Head) finish(fr *framing, req bool) error {
	h.close = fr.close || h.minor == 0 && !fr.keepAlive
	h.upgrade = fr.upgrade && h.seen&kindUpgrade.bit() != 0
	// RFC 9110 10.1.1: an expectation in an HTTP/1.0 request is ignored.
	h.expectContinue = req && fr.expect && h.minor == 1
	if h.seen&kindTransferEncoding.bit() == 0 {
		return nil
	}
	switch {
	case h.minor == 0:
		// RFC 9112 6.1: the framing of such a message is faulty.
		if req {
			return headErr(req, 400, "Transfer-Encoding in an HTTP/1.0 request")
		}
		return headErr(req, 502, "Transfer-Encoding in an HTTP/1.0 response")
	case req && h.seen&kindContentLength.bit() != 0:
		return headErr(req, 400, "both Transfer-Encoding and Content-Length")
	case fr.teCodings == 0:
		return headErr(req, 400, "empty Transfer-Encoding")
	case fr.teChunked > 1:
		return headErr(req, 400, "chunked transfer coding applied more than once")
	}
	// For a response, Transfer-Encoding overrides Content-Length; a last
	// coding other than chunked means the body ends when the connection does.
	h.contentLength = -1
	h.chunked = fr.teLastChunked
	if req && !h.chunked {
		return headErr(req, 501, "unsupported transfer coding")
	}
	return nil
}

// listElements yields the elements of a comma-separated list with their
// surrounding whitespace trimmed; empty elements are yielded too.
func listElements(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for {
			k := bytes.IndexByte(v, ',')
			elem := v
			if k >= 0 {
				elem = v[:k]
			}
			if !yield(trimOWS(elem)) || k < 0 {
				return
			}
			v = v[k+1:]
		}
	}
}

// parseDecimal parses a non-empty run of digits that fits an int64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// value returns the value of the first field named name (ASCII
// case-insensitive), from b, the buffer h was parsed from.
func (h *h1Head) value(b, name []byte) ([]byte, bool) {
	for i := range h.nfields {
		f := &h.fields[i]
		if equalFold(f.name.of(b), name) {
			return f.value.of(b), true
		}
	}
	return nil, false
}

// cookie returns the value of cookie name from the Cookie fields
// ("a=1; b=2", several Cookie fields allowed). A quoted value is returned
// without its quotes.
func (h *h1Head) cookie(b, name []byte) ([]byte, bool) {
	for i := range h.nfields {
		if h.kinds[i] != kindCookie {
			continue
		}
		v := h.fields[i].value.of(b)
		for len(v) > 0 {
			pair := v
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				pair, v = v[:k], v[k+1:]
			} else {
				v = nil
			}
			eq := bytes.IndexByte(pair, '=')
			if eq < 0 || !bytes.Equal(trimOWS(pair[:eq]), name) {
				continue
			}
			val := trimOWS(pair[eq+1:])
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
	return nil, false
}

// Token characters (RFC 9110 5.6.2) as bit sets over bytes 0-63 and 64-127.
const (
	tcharLo = 0x03ff6cfa00000000
	tcharHi = 0x57ffffffc7fffffe
)

func isTchar(c byte) bool {
	m := uint64(tcharLo)
	if c >= 64 {
		m = tcharHi
	}
	return c < 128 && m>>(c&63)&1 != 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isCTL(c byte) bool { return c < ' ' || c == 0x7f }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether a and b are equal under ASCII case folding.
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// equalFoldLower is equalFold against lower, which holds only lower-case
// letters, digits and '-'. a holds no control characters other than
// HTAB, so setting the 0x20 bit folds exactly the upper-case letters onto
// lower.
func equalFoldLower(a []byte, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := range a {
		if a[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
