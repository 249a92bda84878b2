package kdumpconf

import (
	"fmt"
	"strings"
)

// Problem is one finding in a config file: an error or a warning.
type Problem struct {
	File string
	Line int // 1-based; 0 when the problem concerns the whole file
	Msg  string
}

func newProblem(file string, line int, format string, args ...any) Problem {
	return Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Error formats the problem as "FILE:LINE: reason" (or "FILE: reason").
func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

func (p Problem) String() string { return p.Error() }

// Errors is every problem Parse found in a file, in line order. Its
// Error text has one problem per line.
type Errors []Problem

func (e Errors) Error() string {
	var b strings.Builder
	for i, p := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find a single Problem inside.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, p := range e {
		out[i] = p
	}
	return out
}
