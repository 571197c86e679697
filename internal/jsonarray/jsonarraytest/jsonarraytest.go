// Package jsonarraytest writes a TEXT value as SQLite's json_array writes
// it, for the tests of jsonarray's reader: its fuzzer encodes with it
// (its binary must hold no SQLite), and the ledger's tests hold it to
// SQLite itself (TestJSONArrayIsSQLite in ./ledger).
package jsonarraytest

import (
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendText appends s quoted as SQLite 3.54's json_array writes a TEXT:
// `"` and `\` after a backslash; \b \t \n \f \r; the other control
// characters (below 0x20) as \u00xx in lower-case hex; every other byte
// as it is, DEL, invalid UTF-8 and encoded surrogates included.
//
// SQLite itself writes no other \u escape. asU, where not nil, is asked
// of each valid rune by its index in s, and where it says so the rune is
// written as \uXXXX instead (a UTF-16 surrogate pair above U+FFFF): the
// same text to a JSON reader, and the reader's only way into its \u
// paths beyond control characters.
func AppendText(b []byte, s string, asU func(i int) bool) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if valid := r != utf8.RuneError || size > 1; valid && asU != nil && asU(i) {
			if r > 0xffff {
				r -= 0x10000
				b = appendU(appendU(b, 0xd800+r>>10), 0xdc00+r&0x3ff)
			} else {
				b = appendU(b, r)
			}
			i += size
			continue
		}
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = appendU(b, rune(c))
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendU appends \uXXXX of a rune up to U+FFFF.
func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
