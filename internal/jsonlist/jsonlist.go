// Package jsonlist is the form of the ledger's list columns (tags, argv,
// history keys, baseline run ids...): a JSON array of strings. It is a
// leaf, apart from ledger, so that its fuzzer's binary holds no SQLite:
// the fuzzing engine's work per input grows with the coverage counters of
// every package in the binary, and in ledger's it alone capped
// FuzzDecodeList near 10,000 inputs a second (docs/benchmarks.md).
package jsonlist

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Encode is v as a JSON array; "[]" for none.
func Encode(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for []string
		return "[]"
	}
	return string(b)
}

// Decode reads a JSON array column; a damaged value reads as empty
// rather than failing the whole listing. What Encode wrote of plain
// strings (run ids, tags, keys: no escapes) is split, not decoded:
// encoding/json was most of runner regressions' CPU (docs/design.md
// "Listing a large ledger"); anything else takes encoding/json's path.
func Decode(s string) []string {
	if v, ok := plain(s); ok {
		return v
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v) == 0 {
		return nil
	}
	return v
}

// plain is Decode for an array of strings without escapes, as
// encoding/json would decode it; ok is false for any other text.
func plain(s string) (v []string, ok bool) {
	if s == "[]" {
		return nil, true
	}
	inner, ok := strings.CutPrefix(s, `["`)
	if !ok {
		return nil, false
	}
	if inner, ok = strings.CutSuffix(inner, `"]`); !ok {
		return nil, false
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			return nil, false // an escape, a control character or UTF-8 to check
		}
	}
	v = strings.Split(inner, `","`)
	for _, e := range v {
		if strings.IndexByte(e, '"') >= 0 {
			return nil, false // not the compact form: spaces around a comma
		}
	}
	return v, true
}
