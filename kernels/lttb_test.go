package kernels

import (
	"reflect"
	"testing"
)

func TestLTTB(t *testing.T) {
	ramp := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i)
		}
		return out
	}
	spike := make([]float64, 100)
	spike[37] = 9
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		n      int
		wantX  []float64
	}{
		{"short input is kept", []float64{0, 1, 2}, []float64{5, 6, 7}, 10, []float64{0, 1, 2}},
		{"n below 3 keeps all", ramp(5), ramp(5), 2, ramp(5)},
		// 8 inner points in 2 buckets of 4: on a straight line every area
		// is 0 and the first point of each bucket wins.
		{"line", ramp(10), ramp(10), 4, []float64{0, 1, 5, 9}},
		{"a spike survives", ramp(100), spike, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ox, oy := LTTB(tc.xs, tc.ys, tc.n)
			if len(ox) != len(oy) || (len(tc.xs) > tc.n && tc.n >= 3 && len(ox) != tc.n) {
				t.Fatalf("got %d x, %d y; want %d points", len(ox), len(oy), min(tc.n, len(tc.xs)))
			}
			if ox[0] != tc.xs[0] || ox[len(ox)-1] != tc.xs[len(tc.xs)-1] {
				t.Errorf("ends %v..%v, want the input's %v..%v", ox[0], ox[len(ox)-1], tc.xs[0], tc.xs[len(tc.xs)-1])
			}
			if tc.wantX != nil && !reflect.DeepEqual(ox, tc.wantX) {
				t.Errorf("x = %v, want %v", ox, tc.wantX)
			}
			if tc.name == "a spike survives" {
				found := false
				for i := range ox {
					found = found || (ox[i] == 37 && oy[i] == 9)
				}
				if !found {
					t.Errorf("spike at step 37 dropped: %v %v", ox, oy)
				}
			}
		})
	}
}
