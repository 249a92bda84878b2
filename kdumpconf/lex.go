package kdumpconf

import (
	"errors"
	"strings"
)

// splitLine splits one config line into words. The rules keep every file
// kdump-utils reads meaning the same here:
//   - words are separated by spaces and tabs;
//   - an unquoted '#' starts a comment that runs to the end of the line
//     (kdump-utils strips from any '#');
//   - '...' quotes literally; "..." quotes with \" and \\ as escapes, so a
//     value kdump-utils reads with its surrounding quotes stripped
//     (path "/var/crash") gives the same word;
//   - outside quotes a backslash is an ordinary character, as in
//     kdump-utils (which reads lines with read -r).
func splitLine(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				words = append(words, cur.String())
			}
			return words, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			closed := false
			for ; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					cur.WriteByte(s[i+1])
					i++
					continue
				}
				if s[i] == '"' {
					closed = true
					break
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
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

// quoteWord renders a word so that splitLine gives it back unchanged.
func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\r\n\v\f#'\"") {
		return w
	}
	if !strings.ContainsAny(w, "'\n") {
		return "'" + w + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(w); i++ {
		if w[i] == '"' || w[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(w[i])
	}
	b.WriteByte('"')
	return b.String()
}

func quoteWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}
