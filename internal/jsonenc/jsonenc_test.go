package jsonenc

import (
	"encoding/json"
	"testing"
	"time"
)

// probe is an object with one field of each kind Object writes, as the
// api package's types declare them (strings and times as *string, null
// when unset).
type probe struct {
	Str   *string `json:"str"`
	Text  *string `json:"text"`
	Time  *string `json:"time"`
	Zero  *string `json:"zero"`
	Int   *int64  `json:"int"`
	Null  *int64  `json:"null"`
	Bool  bool    `json:"bool"`
	Plain string  `json:"plain"`
}

func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// What Object writes is what json.MarshalIndent writes for the same
// values: the escaping of any string (control characters, HTML, U+2028,
// invalid UTF-8), times in UTC, nulls, numbers and the indentation. The
// runs listing's field list itself is held to encoding/json by
// api.TestRunJSONIsEncodingJSON.
func FuzzObject(f *testing.F) {
	f.Add("plain", "/w/offline-run-1", int64(0))
	f.Add("<&>\u2028", "\xff\x00\"\\", int64(-1))
	f.Add("", "a\"b\\c\n\r\t\b\f\x00\x1f\x7f é λ 😀 \xfe bad\xc3", int64(1<<50))
	f.Fuzz(func(t *testing.T, s, dir string, ms int64) {
		// Escaping is decided one character at a time, so a long string
		// shows nothing a short one cannot; long mutated inputs made each
		// exec cost a hundred short ones.
		if len(s) > 64 || len(dir) > 64 {
			return
		}
		ts := time.UnixMilli(ms).In(time.FixedZone("x", 3600))
		stamp := ts.UTC().Format(time.RFC3339)
		var zero time.Time
		want, err := json.MarshalIndent(probe{Str: &s, Text: orNil(dir), Time: &stamp, Int: &ms, Bool: ms%2 == 0, Plain: dir}, "  ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		o := NewObject(nil, "  ")
		o.Str("str", &s)
		o.Text("text", dir)
		o.Time("time", &ts)
		o.Time("zero", &zero)
		o.Int("int", &ms)
		o.Int("null", nil)
		o.Bool("bool", ms%2 == 0)
		o.Key("plain")
		o.B = AppendString(o.B, dir)
		if got := o.End("  "); string(got) != string(want) {
			t.Errorf("Object:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}
