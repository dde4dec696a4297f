package proxy

// chunkError is an error in chunked framing.
type chunkError string

func (e chunkError) Error() string { return string(e) }

const (
	errChunkSize     chunkError = "malformed chunk size line"
	errChunkTooLarge chunkError = "chunk size over 2^62"
	errChunkData     chunkError = "missing CRLF after chunk data"
	errChunkLine     chunkError = "chunk size or trailer line over 4 KiB"
	errTrailer       chunkError = "malformed trailer field line"
)

// maxChunkSize bounds the size of one chunk.
const maxChunkSize = 1 << 62

type chunkState uint8

const (
	csSize         chunkState = iota // first hex digit of a chunk size
	csSizeDigits                     // further hex digits
	csSizeSpace                      // whitespace after the size
	csExtension                      // chunk extensions, up to CR
	csSizeLF                         // LF ending the chunk-size line
	csData                           // chunk data
	csDataCR                         // CR after chunk data
	csDataLF                         // LF after chunk data
	csTrailer                        // start of a trailer line or of the final CRLF
	csTrailerName                    // trailer field name
	csTrailerValue                   // trailer field value, up to CR
	csTrailerLF                      // LF ending a trailer field line
	csEndLF                          // LF of the final CRLF
	csDone
)

// chunkScanner follows the framing of a chunked body (RFC 9112 7.1) as its
// bytes pass through unchanged. Line ends in the framing must be CRLF: a
// bare LF or CR is an error, as the next hop may read it differently. The
// zero value is ready to use.
type chunkScanner struct {
	state chunkState
	size  uint64 // the chunk size being read, then the data left of the chunk
	line  int    // bytes of the current chunk-size or trailer line
	err   error
}

func (s *chunkScanner) reset() { *s = chunkScanner{} }

// scan consumes bytes of the chunked body from p. It returns how many
// bytes of p belong to the body and done=true once the last chunk and the
// trailer section (possibly empty) have ended; then n is the offset just
// past the body's final CRLF. On error, n is the offset of the offending
// byte, and every later call returns the same error. Bytes may arrive
// split anywhere.
func (s *chunkScanner) scan(p []byte) (n int, done bool, err error) {
	if s.err != nil {
		return 0, false, s.err
	}
	if s.state == csDone {
		return 0, true, nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.state {
		case csSize, csSizeDigits:
			if d, ok := unhex(c); ok {
				if s.size > (maxChunkSize-d)/16 {
					return s.fail(i, errChunkTooLarge)
				}
				s.size = s.size<<4 | d
				s.state = csSizeDigits
				break
			}
			if s.state == csSize {
				return s.fail(i, errChunkSize)
			}
			switch c {
			case '\r':
				s.state = csSizeLF
			case ' ', '\t':
				s.state = csSizeSpace
			case ';':
				s.state = csExtension
			default:
				return s.fail(i, errChunkSize)
			}
		case csSizeSpace:
			switch c {
			case '\r':
				s.state = csSizeLF
			case ' ', '\t':
			case ';':
				s.state = csExtension
			default:
				return s.fail(i, errChunkSize)
			}
		case csExtension:
			switch c {
			case '\r':
				s.state = csSizeLF
			case '\n':
				return s.fail(i, errChunkSize)
			}
		case csSizeLF:
			if c != '\n' {
				return s.fail(i, errChunkSize)
			}
			s.line = 0
			if s.size == 0 {
				s.state = csTrailer
			} else {
				s.state = csData
			}
			continue
		case csData:
			k := uint64(len(p) - i)
			if k > s.size {
				k = s.size
			}
			s.size -= k
			i += int(k) - 1
			if s.size == 0 {
				s.state = csDataCR
			}
			continue
		case csDataCR:
			if c != '\r' {
				return s.fail(i, errChunkData)
			}
			s.state = csDataLF
			continue
		case csDataLF:
			if c != '\n' {
				return s.fail(i, errChunkData)
			}
			s.state = csSize
			continue
		case csTrailer:
			switch {
			case c == '\r':
				s.state = csEndLF
				continue
			case isTchar(c):
				s.state = csTrailerName
			default:
				return s.fail(i, errTrailer)
			}
		case csTrailerName:
			switch {
			case c == ':':
				s.state = csTrailerValue
			case !isTchar(c):
				return s.fail(i, errTrailer)
			}
		case csTrailerValue:
			switch {
			case c == '\r':
				s.state = csTrailerLF
			case isCTL(c) && c != '\t':
				return s.fail(i, errTrailer)
			}
		case csTrailerLF:
			if c != '\n' {
				return s.fail(i, errTrailer)
			}
			s.line = 0
			s.state = csTrailer
			continue
		case csEndLF:
			if c != '\n' {
				return s.fail(i, errTrailer)
			}
			s.state = csDone
			return i + 1, true, nil
		}
		// A byte of a chunk-size or trailer line; a CR ending it is
		// counted too, which the bound allows for.
		s.line++
		if s.line > maxChunkLine+1 {
			return s.fail(i, errChunkLine)
		}
	}
	return len(p), false, nil
}

func (s *chunkScanner) fail(i int, err error) (int, bool, error) {
	s.err = err
	return i, false, err
}

func unhex(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return uint64(c - 'A' + 10), true
	}
	return 0, false
}
