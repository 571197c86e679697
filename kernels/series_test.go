package kernels

import (
	"reflect"
	"strconv"
	"testing"
)

func TestSeriesCollector(t *testing.T) {
	feed := func(c *SeriesCollector, key string, n int) {
		for i := 0; i < n; i++ {
			c.Add(int64(i), key, []byte(strconv.Itoa(i*10)))
		}
	}
	steps := func(xs ...float64) []float64 { return xs }
	tests := []struct {
		name      string
		maxPoints int
		n         int
		want      []float64 // kept steps
	}{
		{"under the limit: every point", 8, 5, steps(0, 1, 2, 3, 4)},
		// limit 7 strided + 1 tail: 0..6 kept, 7 compacts to 0,2,4,6 (stride 2), 8 kept, 9 is the tail
		{"over the limit: even stride plus the latest point", 8, 10, steps(0, 2, 4, 6, 8, 9)},
		{"many rows: stride doubles, last point kept", 8, 100, steps(0, 16, 32, 48, 64, 80, 96, 99)},
		{"latest point already on the stride is not repeated", 8, 97, steps(0, 16, 32, 48, 64, 80, 96)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewSeriesCollector(tt.maxPoints, "operator/loss")
			feed(c, "operator/loss", tt.n)
			feed(c, "other", 3) // not asked for
			s := c.Series("operator/loss")
			if !reflect.DeepEqual(s.Steps, tt.want) {
				t.Errorf("steps = %v, want %v", s.Steps, tt.want)
			}
			if len(s.Steps) > tt.maxPoints {
				t.Errorf("%d points kept, limit %d", len(s.Steps), tt.maxPoints)
			}
			for i := range s.Steps {
				if s.Values[i] != s.Steps[i]*10 {
					t.Errorf("point %d = (%g, %g): value does not belong to its step", i, s.Steps[i], s.Values[i])
				}
			}
			if s.Name != "operator/loss" {
				t.Errorf("name = %q", s.Name)
			}
			if got := c.Keys(); !reflect.DeepEqual(got, []string{"operator/loss"}) {
				t.Errorf("keys = %v", got)
			}
		})
	}
}

func TestSeriesCollectorAllKeysSkipsNonNumbers(t *testing.T) {
	c := NewSeriesCollector(0)
	for i, raw := range []string{"1", "NaN", `"x"`, "2", "Infinity"} {
		c.Add(int64(i), "eval/mse", []byte(raw))
	}
	c.Add(0, "_runtime", []byte("3"))
	if got := c.Keys(); !reflect.DeepEqual(got, []string{"eval/mse"}) {
		t.Errorf("keys = %v, want [eval/mse]", got)
	}
	s := c.Series("eval/mse")
	if !reflect.DeepEqual(s.Steps, []float64{0, 3}) || !reflect.DeepEqual(s.Values, []float64{1, 2}) {
		t.Errorf("series = %+v", s)
	}
	if s := c.Series("absent"); s.Steps != nil {
		t.Errorf("absent key series = %+v", s)
	}
}

func TestSeriesCollectorMemoryIsBounded(t *testing.T) {
	c := NewSeriesCollector(100, "k")
	v := []byte("1.5")
	for i := 0; i < 1000; i++ {
		c.Add(int64(i), "k", v)
	}
	step := int64(1000)
	allocs := testing.AllocsPerRun(200, func() {
		for i := 0; i < 100; i++ {
			c.Add(step, "k", v)
			step++
		}
	})
	if allocs != 0 {
		t.Errorf("Add allocates %.1f times per 100 rows after warm-up", allocs)
	}
	if n := len(c.Series("k").Steps); n > 100 {
		t.Errorf("%d points kept after %d rows, limit 100", n, step)
	}
}
