package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

// chunkCase is a chunked body followed by what comes after it.
type chunkCase struct {
	name string
	body string
	tail string
}

func chunkCases() []chunkCase {
	return []chunkCase{
		{"empty body", "0\r\n\r\n", ""},
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "GET / HTTP/1.1\r\n"},
		{"extensions", "5;ext=1;q=\"a b\"\r\nhello\r\nA\r\n0123456789\r\n0;last\r\n\r\n", ""},
		{"whitespace after size", "5 \t\r\nhello\r\n0\r\n\r\n", ""},
		{"trailers", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:  v\t\r\n\r\n", "tail"},
		{"upper-case hex", "1F\r\n" + strings.Repeat("x", 31) + "\r\n0\r\n\r\n", ""},
		{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", ""},
		{"CRLF in data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", ""},
	}
}

// scanPieces feeds p to a fresh scanner in pieces of at most size bytes
// and returns the total body bytes, done and the error.
func scanPieces(p []byte, size int) (int, bool, error) {
	var s chunkScanner
	total := 0
	for off := 0; off < len(p); off += size {
		piece := p[off:min(off+size, len(p))]
		n, done, err := s.scan(piece)
		total += n
		if done || err != nil {
			return total, done, err
		}
		if n != len(piece) {
			return total, false, errors.New("short count without done or error")
		}
	}
	return total, false, nil
}

func TestChunkScanner(t *testing.T) {
	for _, tc := range chunkCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.body + tc.tail)
			for _, size := range []int{len(p), 1, 2, 3, 7} {
				n, done, err := scanPieces(p, size)
				if n != len(tc.body) || !done || err != nil {
					t.Fatalf("pieces of %d: scan = %d, %t, %v; want %d, true, nil", size, n, done, err, len(tc.body))
				}
			}
			for k := range len(tc.body) {
				var s chunkScanner
				n1, done1, err1 := s.scan(p[:k])
				n2, done2, err2 := s.scan(p[k:])
				if n1 != k || done1 || err1 != nil || n1+n2 != len(tc.body) || !done2 || err2 != nil {
					t.Fatalf("split at %d: %d %t %v, then %d %t %v", k, n1, done1, err1, n2, done2, err2)
				}
				if n, done, err := s.scan(p); n != 0 || !done || err != nil {
					t.Fatalf("scan after done = %d, %t, %v", n, done, err)
				}
			}
			// The incomplete body is never done.
			if _, done, err := scanPieces(p[:len(tc.body)-1], 1); done || err != nil {
				t.Fatalf("incomplete body: done %t, err %v", done, err)
			}
		})
	}
}

// TestChunkScannerAgreesWithNetHTTP decodes the valid bodies with
// httputil's chunked reader: it reaches the last chunk, and what follows
// is the trailer section the scanner consumed.
func TestChunkScannerAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range chunkCases() {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.body))
			if _, err := io.ReadAll(httputil.NewChunkedReader(br)); err != nil {
				t.Fatalf("net/http: %v", err)
			}
			trailer, _ := io.ReadAll(br)
			if !bytes.HasSuffix(trailer, []byte("\r\n")) {
				t.Fatalf("net/http left %q", trailer)
			}
			var h h1Head
			fake := append([]byte("HTTP/1.1 200 OK\r\n"), trailer...)
			if n, err := parseResponseHead(fake, &h); n != len(fake) || err != nil {
				t.Fatalf("trailer section %q does not parse as fields: %d %v", trailer, n, err)
			}
		})
	}
}

func TestChunkScannerErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		at   int // offset of the offending byte
		err  error
	}{
		{"not hex", "x\r\n", 0, errChunkSize},
		{"empty size", "\r\n", 0, errChunkSize},
		{"bare LF after size", "5\nhello\r\n", 1, errChunkSize},
		{"bare CR after size", "5\rhello\r\n", 2, errChunkSize},
		{"bare LF in extension", "5;a\nhello\r\n", 3, errChunkSize},
		{"junk after size", "5 x\r\n", 2, errChunkSize},
		{"negative size", "-5\r\n", 0, errChunkSize},
		{"no CRLF after data", "5\r\nhelloX\r\n", 8, errChunkData},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", 8, errChunkData},
		{"size 2^62 + 1", "4000000000000001\r\n", 15, errChunkTooLarge},
		{"17 hex digits", "FFFFFFFFFFFFFFFFF\r\n", 15, errChunkTooLarge},
		{"long extension", "1;" + strings.Repeat("e", maxChunkLine) + "\r\n", maxChunkLine + 1, errChunkLine},
		{"long trailer", "0\r\nX: " + strings.Repeat("v", maxChunkLine) + "\r\n\r\n", 3 + maxChunkLine + 1, errChunkLine},
		{"folded trailer", "0\r\nX: a\r\n b\r\n\r\n", 9, errTrailer},
		{"trailer without colon", "0\r\nX\r\n\r\n", 4, errTrailer},
		{"control in trailer", "0\r\nX: \x00\r\n\r\n", 6, errTrailer},
		{"bare LF at end", "0\r\n\n", 3, errTrailer},
		{"CR CR at end", "0\r\n\r\r", 4, errTrailer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{len(tc.in), 1} {
				n, done, err := scanPieces([]byte(tc.in), size)
				if n != tc.at || done || !errors.Is(err, tc.err) {
					t.Fatalf("pieces of %d: scan = %d, %t, %v; want %d, false, %v", size, n, done, err, tc.at, tc.err)
				}
			}
			var s chunkScanner
			s.scan([]byte(tc.in))
			if _, _, err := s.scan([]byte("0\r\n\r\n")); !errors.Is(err, tc.err) {
				t.Fatalf("scan after error = %v, want %v", err, tc.err)
			}
			s.reset()
			if n, done, err := s.scan([]byte("0\r\n\r\n")); n != 5 || !done || err != nil {
				t.Fatalf("scan after reset = %d, %t, %v", n, done, err)
			}
		})
	}
	// The largest chunk size allowed.
	var s chunkScanner
	if n, done, err := s.scan([]byte("4000000000000000\r\nabc")); n != 21 || done || err != nil {
		t.Fatalf("2^62 = %d, %t, %v", n, done, err)
	}
}

const (
	typicalRequest = "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n" +
		"Accept-Encoding: gzip\r\nCookie: session=abc; serin-canary=\"canary\"\r\nConnection: keep-alive\r\n\r\n"
	typicalResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 GMT\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n"
)

func TestChunkScannerDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	body := typicalChunked()
	var s chunkScanner
	allocs := testing.AllocsPerRun(100, func() {
		s.reset()
		if n, done, err := s.scan(body[:7]); n != 7 || done || err != nil {
			t.Fatal(n, done, err)
		}
		if n, done, err := s.scan(body[7:]); n != len(body)-7 || !done || err != nil {
			t.Fatal(n, done, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("scan allocates %v times", allocs)
	}
}

func BenchmarkChunkScanner(b *testing.B) {
	body := typicalChunked()
	var s chunkScanner
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.reset()
		if _, done, err := s.scan(body); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func FuzzChunkScanner(f *testing.F) {
	for _, tc := range chunkCases() {
		f.Add([]byte(tc.body + tc.tail))
	}
	f.Add(typicalChunked())
	f.Add([]byte("5\r\nhelloX"))
	f.Add([]byte("4000000000000000\r\n"))
	f.Add([]byte("0\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		n, done, err := scanPieces(p, max(len(p), 1))
		n1, done1, err1 := scanPieces(p, 1)
		if n != n1 || done != done1 || !errors.Is(err1, err) {
			t.Fatalf("whole: %d %t %v; byte by byte: %d %t %v", n, done, err, n1, done1, err1)
		}
		if n > len(p) || (err == nil && !done && n != len(p)) {
			t.Fatalf("scan = %d, %t, %v of %d bytes", n, done, err, len(p))
		}
		// Where net/http decodes the body up to its last chunk and an
		// empty trailer section follows, the scanner ends there too.
		rd := bytes.NewReader(p)
		br := bufio.NewReader(rd)
		if _, err := io.ReadAll(httputil.NewChunkedReader(br)); err != nil {
			return
		}
		used := len(p) - rd.Len() - br.Buffered()
		if bytes.HasPrefix(p[used:], []byte("\r\n")) && (n != used+2 || !done || err != nil) {
			t.Fatalf("net/http ends the body at %d; scan = %d, %t, %v", used+2, n, done, err)
		}
	})
}
