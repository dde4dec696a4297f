package proxy

// The rewriters of the event-loop fast path: the heads sent upstream and
// back to the client, made from a parsed head without allocating.

// namedByConnection reports whether a Connection field lists name.
func (h *h1Head) namedByConnection(b, name []byte) bool {
	for i := range h.nfields {
		if h.kinds[i] != kindConnection {
			continue
		}
		for elem := range listElements(h.fields[i].value.of(b)) {
			if equalFold(elem, name) {
				return true
			}
		}
	}
	return false
}

// dropped reports whether field i is not forwarded, hop being the
// hop-by-hop kinds of the message.
func (h *h1Head) dropped(b []byte, i int, hop uint32) bool {
	bit := h.kinds[i].bit()
	if bit&hop != 0 {
		return true
	}
	return h.connOther && bit&protected == 0 && h.namedByConnection(b, h.fields[i].name.of(b))
}

func appendField(dst, b []byte, f *h1Field) []byte {
	dst = append(dst, f.name.of(b)...)
	dst = append(dst, ": "...)
	dst = append(dst, f.value.of(b)...)
	return append(dst, "\r\n"...)
}

// appendRequestHead appends to dst the head to send upstream for the
// request head h parsed from b: the request line as
// "METHOD TARGET HTTP/1.1\r\n"; every field except the hop-by-hop ones
// (Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE,
// Trailer, Upgrade, and every field named by a Connection token) in their
// original order and spelling; X-Forwarded-For: the existing values (all
// X-Forwarded-For fields joined with ", ") then ", " then clientIP, or just
// clientIP when there were none (a single X-Forwarded-For field, placed
// where the first one was, or at the end); X-Forwarded-Proto: http added at
// the end when absent; then the blank line. Content-Length and
// Transfer-Encoding are kept (the body is forwarded as it came), as are
// Host and the X-Forwarded fields, even when a Connection token names them.
func appendRequestHead(dst, b []byte, h *h1Head, clientIP []byte) []byte {
	dst = append(dst, h.method.of(b)...)
	dst = append(dst, ' ')
	dst = append(dst, h.target.of(b)...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	xff := false
	for i := range h.nfields {
		if h.dropped(b, i, requestHop) {
			continue
		}
		if h.kinds[i] == kindXForwardedFor {
			if !xff {
				dst = h.appendXForwardedFor(dst, b, clientIP)
				xff = true
			}
			continue
		}
		dst = appendField(dst, b, &h.fields[i])
	}
	if !xff {
		dst = h.appendXForwardedFor(dst, b, clientIP)
	}
	if h.seen&kindXForwardedProto.bit() == 0 {
		dst = append(dst, "X-Forwarded-Proto: http\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendXForwardedFor appends the X-Forwarded-For field: the non-empty
// values of the request's X-Forwarded-For fields, then clientIP. It
// appends nothing when both are empty.
func (h *h1Head) appendXForwardedFor(dst, b, clientIP []byte) []byte {
	start := len(dst)
	dst = append(dst, "X-Forwarded-For: "...)
	sep := false
	for i := range h.nfields {
		if h.kinds[i] != kindXForwardedFor {
			continue
		}
		v := h.fields[i].value.of(b)
		if len(v) == 0 {
			continue
		}
		if sep {
			dst = append(dst, ", "...)
		}
		dst = append(dst, v...)
		sep = true
	}
	if len(clientIP) > 0 {
		if sep {
			dst = append(dst, ", "...)
		}
		dst = append(dst, clientIP...)
		sep = true
	}
	if !sep {
		return dst[:start]
	}
	return append(dst, "\r\n"...)
}

// appendResponseHead appends to dst the head to send to the client for the
// response head h parsed from b: "HTTP/1.1 NNN reason\r\n"; every field
// except the hop-by-hop ones (Connection, Keep-Alive, Proxy-Connection,
// Proxy-Authenticate, Upgrade, and those named by Connection tokens);
// "Set-Cookie: <setCookie>" when setCookie is non-nil; "Connection: close"
// when close is true; then the blank line. Content-Length is dropped when
// the response also has Transfer-Encoding (RFC 9112 6.3), so that the
// client frames the body as the proxy did.
func appendResponseHead(dst, b []byte, h *h1Head, close bool, setCookie []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	s := h.status
	dst = append(dst, byte('0'+s/100%10), byte('0'+s/10%10), byte('0'+s%10), ' ')
	dst = append(dst, h.reason.of(b)...)
	dst = append(dst, "\r\n"...)
	hop := uint32(responseHop)
	if h.seen&kindTransferEncoding.bit() != 0 {
		hop |= kindContentLength.bit()
	}
	for i := range h.nfields {
		if !h.dropped(b, i, hop) {
			dst = appendField(dst, b, &h.fields[i])
		}
	}
	if setCookie != nil {
		dst = append(dst, "Set-Cookie: "...)
		dst = append(dst, setCookie...)
		dst = append(dst, "\r\n"...)
	}
	if close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}
