package jobspec

import "testing"

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
