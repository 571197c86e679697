package jsonlist

import (
	"encoding/json"
	"slices"
	"testing"
)

// jsonList is Decode as encoding/json alone reads it.
func jsonList(s string) []string {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v) == 0 {
		return nil
	}
	return v
}

// A list column reads the same through the split path as through
// encoding/json, whatever is stored: what Encode wrote, or a
// damaged or hand-edited value.
func TestDecodeListIsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"[]", `[""]`, `["a"]`, `["a","b","c"]`, Encode([]string{"x<y", "é", "a\"b", "tab\t"}),
		`["a", "b"]`, `["a","]`, `["]`, `[1,2]`, `null`, ``, `["a"]x`, `["\u0041"]`, "[\"\xff\"]", `[ "a"]`, `["a",]`,
	} {
		if got, want := Decode(s), jsonList(s); !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("Decode(%q) = %q, encoding/json %q", s, got, want)
		}
	}
}

func FuzzDecodeList(f *testing.F) {
	f.Add(`["a","b"]`)
	f.Add(`["a", "b"]`)
	f.Add(`[""]`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Decode(s), jsonList(s); !slices.Equal(got, want) {
			t.Errorf("Decode(%q) = %q, encoding/json %q", s, got, want)
		}
	})
}
