// Package jsonarray reads a JSON array as SQLite's json_array writes it:
// no white space, a TEXT value as a string with only `"`, `\` and control
// characters escaped (every other byte as it is, invalid UTF-8 included),
// an INTEGER as digits, NULL as null. The ledger reads each row of a lean
// listing as one such array (docs/design.md "Listing a large ledger").
// A leaf package so that its fuzzer's binary holds no SQLite, whose
// coverage counters capped the fuzz engine near 10,000 inputs a second
// (docs/benchmarks.md "Fuzzing").
package jsonarray

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/runnerhq/runner/internal/jsonenc"
)

// ErrMalformed is what Close reports for text that is not such an array
// or whose values are not of the kinds read.
var ErrMalformed = errors.New("malformed json array")

// Reader reads the values of one array in order, each by the method of
// its kind. The first error sticks: the reads after it give zero values,
// and Close reports it, so a caller reads a whole row and checks once.
type Reader struct {
	s   string
	i   int
	n   int // values read
	err error
}

// NewReader starts reading the array s (past its opening bracket).
func NewReader(s string) Reader {
	if s == "" || s[0] != '[' {
		return Reader{s: s, err: ErrMalformed}
	}
	return Reader{s: s, i: 1}
}

func (a *Reader) fail() {
	if a.err == nil {
		a.err = ErrMalformed
	}
}

// value starts the next value: past the comma after the one before.
func (a *Reader) value() bool {
	if a.err != nil {
		return false
	}
	if a.n > 0 {
		if a.i >= len(a.s) || a.s[a.i] != ',' {
			a.fail()
			return false
		}
		a.i++
	}
	a.n++
	return a.i < len(a.s)
}

// Close is the first error, or ErrMalformed where the array does not end
// after the values read.
func (a *Reader) Close() error {
	if a.err == nil && (a.i != len(a.s)-1 || a.s[a.i] != ']') {
		a.fail()
	}
	return a.err
}

// Text reads a string. One without an escape is a part of the array's
// text (no allocation), one with an escape a copy.
func (a *Reader) Text() string {
	if !a.value() || a.s[a.i] != '"' {
		a.fail()
		return ""
	}
	start := a.i + 1
	for j := start; j < len(a.s); j++ {
		switch a.s[j] {
		case '"':
			a.i = j + 1
			return a.s[start:j]
		case '\\':
			return a.escaped(start)
		}
	}
	a.fail()
	return ""
}

// escaped reads the rest of a string that holds an escape, from start
// (after its opening quote). Bytes outside escapes are kept as they are,
// invalid UTF-8 included, as a read of the column gives them.
func (a *Reader) escaped(start int) string {
	b := make([]byte, 0, len(a.s)-start)
	for j := start; j < len(a.s); {
		c := a.s[j]
		switch {
		case c == '"':
			a.i = j + 1
			return string(b)
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(a.s) {
			break
		}
		if c, ok := jsonenc.Unescape(a.s[j+1]); ok {
			b = append(b, c)
			j += 2
			continue
		}
		if a.s[j+1] != 'u' {
			a.fail()
			return ""
		}
		r, size := a.hex4(j + 2)
		if size == 0 {
			a.fail()
			return ""
		}
		if r >= 0xd800 && r < 0xdc00 { // a UTF-16 surrogate pair
			if lo, n := a.hex4(j + 8); n > 0 && a.s[j+6] == '\\' && a.s[j+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				j += 6
			}
		}
		b = utf8.AppendRune(b, r)
		j += 6
	}
	a.fail()
	return ""
}

// hex4 reads the four hex digits at i; size is 0 when they are not there.
func (a *Reader) hex4(i int) (rune, int) {
	if i+4 > len(a.s) {
		return 0, 0
	}
	v, err := strconv.ParseUint(a.s[i:i+4], 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 4
}

// NullInt reads an integer or null (ok false).
func (a *Reader) NullInt() (int64, bool) {
	if !a.value() {
		a.fail()
		return 0, false
	}
	if a.s[a.i] == 'n' {
		if len(a.s)-a.i >= 4 && a.s[a.i:a.i+4] == "null" {
			a.i += 4
			return 0, false
		}
		a.fail()
		return 0, false
	}
	j := a.i
	if a.s[j] == '-' {
		j++
	}
	for j < len(a.s) && a.s[j] >= '0' && a.s[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(a.s[a.i:j], 10, 64)
	if err != nil {
		a.fail()
		return 0, false
	}
	a.i = j
	return v, true
}

// Int reads an integer of a NOT NULL column: null is an error.
func (a *Reader) Int() int64 {
	v, ok := a.NullInt()
	if !ok {
		a.fail()
	}
	return v
}
