package kernels

import "sort"

// DefaultMaxPoints bounds each collected series.
const DefaultMaxPoints = 2000

// SeriesCollector keeps a downsampled (step, value) series per chosen key
// from a history stream, in memory bounded by MaxPoints per key whatever the
// number of rows. It keeps every stride-th finite value; when the buffer is
// full it drops every other kept point and doubles the stride, so the kept
// points stay evenly spread over the whole run. The latest point is always
// kept as well, so the curve ends where the run ended.
// It is not safe for concurrent use.
type SeriesCollector struct {
	maxPoints int
	all       bool
	keys      map[string]*seriesBuf
}

type seriesBuf struct {
	steps, values []float64
	stride        int
	seen          int // finite values seen so far
	lastStep      float64
	lastValue     float64
	lastKept      bool // the latest value is already in steps/values
}

// NewSeriesCollector collects the given keys (every non-underscore key when
// none are given), at most maxPoints points each (DefaultMaxPoints when
// maxPoints < 4).
func NewSeriesCollector(maxPoints int, keys ...string) *SeriesCollector {
	if maxPoints < 4 {
		maxPoints = DefaultMaxPoints
	}
	c := &SeriesCollector{maxPoints: maxPoints, all: len(keys) == 0, keys: make(map[string]*seriesBuf)}
	for _, k := range keys {
		c.keys[k] = &seriesBuf{stride: 1}
	}
	return c
}

// Add takes one history value (raw JSON); non-finite and non-numeric
// values are skipped.
func (c *SeriesCollector) Add(step int64, key string, value []byte) {
	b := c.keys[key]
	if b == nil {
		if !c.all || internalKey(key) {
			return
		}
		b = &seriesBuf{stride: 1}
		c.keys[key] = b
	}
	v, kind := parseValue(value)
	if kind != kindFinite {
		return
	}
	b.add(float64(step), v, c.maxPoints-1) // one slot reserved for the latest point
}

func (b *seriesBuf) add(step, v float64, limit int) {
	b.lastStep, b.lastValue = step, v
	b.lastKept = false
	if b.seen%b.stride == 0 {
		if len(b.steps) == limit {
			// Keep indices 0,2,4,...: those are the multiples of 2*stride.
			half := 0
			for i := 0; i < len(b.steps); i += 2 {
				b.steps[half], b.values[half] = b.steps[i], b.values[i]
				half++
			}
			b.steps, b.values = b.steps[:half], b.values[:half]
			b.stride *= 2
		}
		if b.seen%b.stride == 0 {
			b.steps = append(b.steps, step)
			b.values = append(b.values, v)
			b.lastKept = true
		}
	}
	b.seen++
}

// Series is a metric of one run over steps: what a collector keeps and
// what package plot draws.
type Series struct {
	Name   string    `json:"name"`
	Steps  []float64 `json:"steps"`
	Values []float64 `json:"values"`
}

// Series returns the collected series for key, named key (nil slices when
// nothing finite was seen). The caller may rename it, e.g. to the run name.
func (c *SeriesCollector) Series(key string) Series {
	s := Series{Name: key}
	b := c.keys[key]
	if b == nil || b.seen == 0 {
		return s
	}
	n := len(b.steps)
	if !b.lastKept {
		n++
	}
	s.Steps = make([]float64, 0, n)
	s.Values = make([]float64, 0, n)
	s.Steps = append(s.Steps, b.steps...)
	s.Values = append(s.Values, b.values...)
	if !b.lastKept {
		s.Steps = append(s.Steps, b.lastStep)
		s.Values = append(s.Values, b.lastValue)
	}
	return s
}

// Keys returns the collected keys that have at least one point, sorted.
func (c *SeriesCollector) Keys() []string {
	out := make([]string, 0, len(c.keys))
	for k, b := range c.keys {
		if b.seen > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
