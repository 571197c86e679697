package api

import (
	"strings"
	"testing"
)

// A streamed JSON array is byte for byte what Write prints for the
// whole slice: runner runs --json did not change shape when it streamed.
func TestJSONArrayIsWriteJSON(t *testing.T) {
	id := int64(7)
	for _, tc := range []struct {
		name string
		runs []Run
	}{
		{"none", []Run{}},
		{"one", []Run{{Dir: "/a", State: "synced", JobID: &id}}},
		{"three", []Run{{Dir: "/a"}, {Dir: "/b\n\"c\"", State: "failed"}, {Dir: "/d", Finished: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got strings.Builder
			if err := Write(&want, tc.runs); err != nil {
				t.Fatal(err)
			}
			a := NewArray(&got)
			for _, r := range tc.runs {
				if err := a.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("streamed\n%s\nwant\n%s", got.String(), want.String())
			}
			var each strings.Builder
			if err := WriteArray(&each, func(fn func(Run) error) error {
				for _, r := range tc.runs {
					if err := fn(r); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if each.String() != want.String() {
				t.Fatalf("WriteArray\n%s\nwant\n%s", each.String(), want.String())
			}
		})
	}
}
