package jobs

import (
	"math"
	"testing"
)

// ParseSize never panics, and what it accepts prints back (FormatSize) as
// a size it reads to the same bytes or a rounding of them.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"20GiB", "80G", "512MiB", "1.5GiB", "0", "1e3", "-1G", "", "GiB", "18446744073709551615", "99999999999999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil && n > math.MaxUint64/100*95 {
			return // rounded up past the largest size: "too large" is right
		}
		if err != nil {
			t.Errorf("ParseSize(%q) = %d, printed %q, not readable back: %v", s, n, FormatSize(n), err)
		}
		// FormatSize rounds to 0.1 of its unit: within 5 %.
		if d := float64(back) - float64(n); d > 0.05*float64(n)+1 || -d > 0.05*float64(n)+1 {
			t.Errorf("ParseSize(%q) = %d, printed %q, read back %d", s, n, FormatSize(n), back)
		}
	})
}

// ParseArray never panics; what it accepts is a bounded set of distinct,
// non-negative indexes.
func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"0-99", "0-99%4", "1,3,8-10", "%8", "5", "", "3-1", "0-99999", "9223372036854775807", "0-9223372036854775807", "1,,2", "-", "%", "0-3%0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		idx, limit, err := ParseArray(s)
		if err != nil {
			return
		}
		if len(idx) > MaxArray || limit < 0 {
			t.Fatalf("ParseArray(%q): %d indexes, limit %d", s, len(idx), limit)
		}
		seen := map[int64]bool{}
		for _, i := range idx {
			if i < 0 || seen[i] {
				t.Fatalf("ParseArray(%q): index %d negative or repeated", s, i)
			}
			seen[i] = true
		}
	})
}

// ParseSweep never panics; every point has one --key value pair and one
// variable per key, and the points are the product of the lists.
func FuzzParseSweep(f *testing.F) {
	for _, s := range []string{"lr: [1e-3, 3e-4]\nbatch: [32, 64]\n", `{"a": [1, 2], "b": ["x"]}`, "a: []", "a: 1", "[1]", "", "a: [[1]]",
		"a: &x [1, 2]\nb: *x\n", "? [a]\n: [1]\n", "a: [1, 2, 3]\nb: [1, 2, 3]\nc: [1, 2, 3]\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pts, err := ParseSweep(data)
		if err != nil {
			return
		}
		if len(pts) == 0 || len(pts) > MaxArray {
			t.Fatalf("%d points", len(pts))
		}
		keys := len(pts[0].Env)
		for _, p := range pts {
			if len(p.Env) != keys || len(p.Args) != 2*keys {
				t.Fatalf("point %+v: want %d keys", p, keys)
			}
		}
	})
}
