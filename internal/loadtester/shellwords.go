package loadtester

import (
	"errors"
	"strings"
)

// errUnterminated is returned by splitWords for an open quote or a
// trailing backslash.
var errUnterminated = errors.New("unterminated quote or trailing backslash")

// splitWords splits a command line into words as a POSIX shell does,
// without expanding anything: words are separated by unquoted blanks
// (space, tab, newline); single quotes keep everything up to the next
// single quote; double quotes keep everything up to the next unescaped
// double quote, where a backslash escapes only $, `, ", \ and newline;
// outside quotes a backslash keeps the next character (and drops an
// escaped newline).
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errUnterminated
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errUnterminated
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errUnterminated
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
