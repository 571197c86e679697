package jobspec

import (
	"strings"
	"testing"
)

// A grid at the MaxArray bound: its cost is the points, not the YAML.
func BenchmarkParseSweep100k(b *testing.B) {
	var doc strings.Builder
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		doc.WriteString(k + ": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n")
	}
	data := []byte(doc.String())
	b.ReportAllocs()
	for b.Loop() {
		if pts, err := ParseSweep(data); err != nil || len(pts) != 100_000 {
			b.Fatal(len(pts), err)
		}
	}
}
