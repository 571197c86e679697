package jsonarray_test

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runnerhq/runner/internal/jsonarray"
	"github.com/runnerhq/runner/internal/jsonarray/jsonarraytest"
)

// row is the array [s,n,null] as json_array writes it, with the runs of s
// that asU picks written as \u escapes.
func row(s string, n int64, asU func(int) bool) string {
	b := jsonarraytest.AppendText([]byte{'['}, s, asU)
	b = strconv.AppendInt(append(b, ','), n, 10)
	return string(append(b, ",null]"...))
}

// read reads [text,int,null].
func read(s string) (string, int64, error) {
	a := jsonarray.NewReader(s)
	got, n := a.Text(), a.Int()
	if _, notNull := a.NullInt(); notNull {
		return "", 0, errors.New("a number where null was")
	}
	return got, n, a.Close()
}

// The reader is what a lean row is split with; the SQLite side of each
// case is held to SQLite itself by TestJSONArrayIsSQLite in ./ledger.
func TestReader(t *testing.T) {
	for _, c := range []struct {
		row  string
		s    string
		n    int64
		fail bool
	}{
		{row: `["",0,null]`},
		{row: `["a\"b\\c\/",-1,null]`, s: `a"b\c/`, n: -1},
		{row: `["\u00e9\u00E9",9223372036854775807,null]`, s: "éé", n: math.MaxInt64},
		{row: `["\ud83d\ude00",-9223372036854775808,null]`, s: "😀", n: math.MinInt64},
		{row: `["\ud83d",1,null]`, s: "\ufffd", n: 1}, // a lone high surrogate
		{row: `["\ud83dx\ude00",1,null]`, s: "\ufffdx\ufffd", n: 1},
		{row: "[\"\xff\x00\",1,null]", s: "\xff\x00", n: 1}, // raw bytes are kept
		{row: `["\u00e",1,null]`, fail: true},
		{row: `["\x41",1,null]`, fail: true},
		{row: `["a",9223372036854775808,null]`, fail: true},
		{row: `["a",null,null]`, fail: true}, // null in Int
		{row: `["a",1,nul]`, fail: true},
		{row: `["a",1,null] `, fail: true},
		{row: `["a", 1,null]`, fail: true},
		{row: `["a",1]`, fail: true},
		{row: `["a",1,null,2]`, fail: true},
		{row: `"a",1,null]`, fail: true},
		{row: `["a\",1,null]`, fail: true},
		{row: `["a`, fail: true},
		{row: ``, fail: true},
		{row: `["a",-,null]`, fail: true},
		{row: `["a",+1,null]`, fail: true},
		{row: `[a,1,null]`, fail: true},
	} {
		s, n, err := read(c.row)
		if c.fail {
			if !errors.Is(err, jsonarray.ErrMalformed) {
				t.Errorf("%s read as %q, %d, %v; want ErrMalformed", c.row, s, n, err)
			}
			continue
		}
		if err != nil || s != c.s || n != c.n {
			t.Errorf("%s read as %q, %d, %v; want %q, %d", c.row, s, n, err, c.s, c.n)
		}
	}
}

// maxFuzzText bounds the fuzzer's strings. The bound loses no case: the
// reader and the encoder decide one byte, rune or escape at a time, and
// an escape spans at most 12 bytes (a surrogate pair), so what a long
// string could show a string of a few escapes shows too.
const maxFuzzText = 256

// Whatever a TEXT column holds, written as json_array writes it (and any
// of its runes as a \u escape instead, as esc's bits say), a string, an
// integer and a null read back are what was written, byte for byte. And
// the input read as a row itself never panics; where it reads, it reads
// as encoding/json reads the same text (where that is valid JSON in valid
// UTF-8), and what it read, written again, reads the same.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"", "plain", `a"b\c`, "\x00\x1f\x7f\n\b\f\r\t", "\xff\xc3 é 😀 \U0010ffff", `\u00e9`,
		`["a",1,null]`, `["\u00e9\ud83d\ude00\"",-2,null]`, `["\ud800\u0041",0,null]`, "[\"\xed\xa0\x80\",1,null]"} {
		f.Add(s, int64(-1), uint64(0))
		f.Add(s, int64(1)<<62, uint64(0x5555555555555555))
	}
	f.Add("😀é", int64(math.MinInt64), uint64(math.MaxUint64))
	f.Add("a", int64(math.MaxInt64), uint64(1))
	f.Fuzz(func(t *testing.T, s string, n int64, esc uint64) {
		if len(s) > maxFuzzText {
			return
		}
		asU := func(i int) bool { return esc>>(i%64)&1 == 1 }
		written := row(s, n, asU)
		if got, gotN, err := read(written); err != nil || got != s || gotN != n {
			t.Errorf("%q read as %q, %d (%v); want %q, %d", written, got, gotN, err, s, n)
		}

		got, gotN, err := read(s)
		if err != nil {
			return
		}
		again := row(got, gotN, nil)
		if got2, gotN2, err := read(again); err != nil || got2 != got || gotN2 != gotN {
			t.Errorf("%q read as %q, %d, written again %q read as %q, %d (%v)", s, got, gotN, again, got2, gotN2, err)
		}
		if !utf8.ValidString(s) || !json.Valid([]byte(s)) {
			return
		}
		var v []any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(&v); err != nil || len(v) != 3 || v[0] != any(got) || !isInt(v[1], gotN) || v[2] != nil {
			t.Errorf("%q read as %q, %d; encoding/json %#v (%v)", s, got, gotN, v, err)
		}
	})
}

// isInt says whether v is encoding/json's number n.
func isInt(v any, n int64) bool {
	num, ok := v.(json.Number)
	if !ok {
		return false
	}
	got, err := num.Int64()
	return err == nil && got == n
}
