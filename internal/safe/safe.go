// Package safe makes untrusted names printable: a run name, a job name or a
// W&B id comes from a user's tree or argv and must not be able to fake a
// table row or turn a terminal's text around.
package safe

import (
	"fmt"
	"strings"
	"unicode"
)

// Text escapes control characters (a newline would fake a row) and bidi
// overrides (text that reads backwards) as \uXXXX.
func Text(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Dash is Text, with "-" for an empty value (a table cell is never blank).
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return Text(s)
}

func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
