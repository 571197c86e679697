// Package jsonenc writes JSON without reflection, byte for byte as
// encoding/json writes it, for the listings that print a row per run
// (docs/design.md "Listing a large ledger"). A leaf package: its fuzzer's
// binary holds no SQLite, whose coverage counters capped the fuzz engine
// near 10,000 inputs a second (docs/benchmarks.md "Fuzzing").
package jsonenc

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// NewObject starts an object in b whose fields are indented by prefix
// plus two spaces; End closes it.
func NewObject(b []byte, prefix string) Object {
	return Object{B: append(b, '{'), in: prefix + "  "}
}

// End closes the object at prefix's indentation and returns the output.
func (o *Object) End(prefix string) []byte {
	return append(append(append(o.B, '\n'), prefix...), '}')
}

// Object writes the fields of one indented JSON object, as
// json.MarshalIndent(v, prefix, "  ") writes a struct's; B is the output.
type Object struct {
	B  []byte
	in string
	n  int
}

func (o *Object) Key(k string) {
	if o.n > 0 {
		o.B = append(o.B, ',')
	}
	o.n++
	o.B = append(append(append(append(o.B, '\n'), o.in...), '"'), k...)
	o.B = append(o.B, '"', ':', ' ')
}

func (o *Object) Str(k string, v *string) {
	o.Key(k)
	if v == nil {
		o.B = append(o.B, "null"...)
		return
	}
	o.B = AppendString(o.B, *v)
}

// Text writes s, null when empty (api.Str).
func (o *Object) Text(k, s string) {
	o.Key(k)
	if s == "" {
		o.B = append(o.B, "null"...)
		return
	}
	o.B = AppendString(o.B, s)
}

// Time writes t, null when unset or zero (api.TimePtr).
func (o *Object) Time(k string, t *time.Time) {
	o.Key(k)
	if t == nil || t.IsZero() {
		o.B = append(o.B, "null"...)
		return
	}
	o.B = AppendTime(o.B, *t)
}

// AppendTime appends t in UTC as RFC 3339, quoted (api.Time): it has
// nothing to escape.
func AppendTime(b []byte, t time.Time) []byte {
	return append(t.UTC().AppendFormat(append(b, '"'), time.RFC3339), '"')
}

func (o *Object) Int(k string, v *int64) {
	o.Key(k)
	if v == nil {
		o.B = append(o.B, "null"...)
		return
	}
	o.B = strconv.AppendInt(o.B, *v, 10)
}

func (o *Object) Bool(k string, v bool) {
	o.Key(k)
	o.B = strconv.AppendBool(o.B, v)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s quoted as encoding/json quotes a string: HTML
// characters (<, >, &), control characters, U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// Unescape is the byte a one-character JSON escape (the letter after the
// backslash) stands for; false for \u (four hex digits follow) and for
// what is not an escape. The readers of JSON text that skip encoding/json
// (the .wandb values, the ledger's lean rows) share it.
func Unescape(e byte) (byte, bool) {
	switch e {
	case '"', '\\', '/':
		return e, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}
