package kernels

import (
	"math"
	"sort"
)

// Defaults for SummaryOptions.
const (
	DefaultEMAAlpha    = 0.1
	DefaultSlopeWindow = 20
)

// SummaryOptions tunes a Summarizer. Zero values take the defaults.
type SummaryOptions struct {
	EMAAlpha    float64               // smoothing factor in (0,1]; default DefaultEMAAlpha
	SlopeWindow int                   // K, how many trailing finite points the slope uses; default DefaultSlopeWindow
	Goals       func(key string) Goal // decides BestStep; default DefaultGoalRules().Goal
}

// MetricSummary describes one history key of a run.
//
// Count is the number of finite numeric values; NaN/±Infinity values are
// counted in NonFinite and strings, bools, null, tables and media in
// NonNumeric; neither ever enters the statistics. When Count is 0 the
// statistics (Last..Std, EMA, steps) are zero and BestStep and Slope are nil.
type MetricSummary struct {
	Key        string   `json:"key"`
	Goal       Goal     `json:"goal"`
	Count      int      `json:"count"`
	NonNumeric int      `json:"non_numeric"`
	NonFinite  int      `json:"non_finite"`
	Last       float64  `json:"last"`
	Min        float64  `json:"min"`
	Max        float64  `json:"max"`
	Mean       float64  `json:"mean"`
	Std        float64  `json:"std"`        // sample standard deviation (n-1); 0 for a single point
	BestStep   *int64   `json:"best_step"`  // step of the best value under Goal, first on ties; nil when the goal is unknown
	EMA        float64  `json:"ema"`        // exponentially smoothed last value, seeded with the first value
	Slope      *float64 `json:"slope"`      // least-squares slope vs step over the last K finite points
	FirstStep  int64    `json:"first_step"` // step of the first finite value
	LastStep   int64    `json:"last_step"`  // step of the last finite value
}

// Summarizer folds a run's history stream into per-key summaries in memory
// that depends on the number of keys and the slope window, never on the
// number of rows. Feed it from the .wandb reader's history callback.
// It is not safe for concurrent use.
type Summarizer struct {
	alpha  float64
	window int
	goals  func(string) Goal
	keys   map[string]*keyAcc
}

// keyAcc is the running state for one key.
type keyAcc struct {
	goal                  Goal
	count                 int
	nonNumeric, nonFinite int
	last, min, max        float64
	mean, m2              float64 // Welford: stable mean and sum of squared deviations
	best                  float64
	bestStep              int64
	ema                   float64
	firstStep, lastStep   int64
	// ring buffer of the last K finite points for the slope
	ringX, ringY []float64
	ringNext     int
	ringLen      int
}

// NewSummarizer returns an empty Summarizer.
func NewSummarizer(opts SummaryOptions) *Summarizer {
	s := &Summarizer{
		alpha:  opts.EMAAlpha,
		window: opts.SlopeWindow,
		goals:  opts.Goals,
		keys:   make(map[string]*keyAcc),
	}
	if !(s.alpha > 0 && s.alpha <= 1) {
		s.alpha = DefaultEMAAlpha
	}
	if s.window < 2 {
		s.window = DefaultSlopeWindow
	}
	if s.goals == nil {
		s.goals = DefaultGoalRules().Goal
	}
	return s
}

// Add records one history value. value is the raw JSON W&B stored. Keys
// with a leading underscore (_step, _timestamp, _runtime, _wandb) are W&B
// bookkeeping and are skipped.
func (s *Summarizer) Add(step int64, key string, value []byte) {
	if internalKey(key) {
		return
	}
	a := s.keys[key]
	if a == nil {
		a = &keyAcc{
			goal:  s.goals(key),
			ringX: make([]float64, s.window),
			ringY: make([]float64, s.window),
		}
		s.keys[key] = a
	}
	v, kind := parseValue(value)
	switch kind {
	case kindNonNumeric:
		a.nonNumeric++
		return
	case kindNonFinite:
		a.nonFinite++
		return
	}
	a.add(step, v, s.alpha)
}

func (a *keyAcc) add(step int64, v, alpha float64) {
	a.count++
	if a.count == 1 {
		a.min, a.max = v, v
		a.best, a.bestStep = v, step
		a.ema = v
		a.firstStep = step
	} else {
		a.min = math.Min(a.min, v)
		a.max = math.Max(a.max, v)
		if a.goal.better(v, a.best) {
			a.best, a.bestStep = v, step
		}
		a.ema = alpha*v + (1-alpha)*a.ema
	}
	a.last, a.lastStep = v, step
	d := v - a.mean
	a.mean += d / float64(a.count)
	a.m2 += d * (v - a.mean)

	a.ringX[a.ringNext] = float64(step)
	a.ringY[a.ringNext] = v
	a.ringNext = (a.ringNext + 1) % len(a.ringX)
	if a.ringLen < len(a.ringX) {
		a.ringLen++
	}
}

// slope is the ordinary least-squares slope of value on step over the ring.
// Order inside the ring does not matter for the fit. Centering on the means
// keeps it accurate for large step numbers.
func (a *keyAcc) slope() *float64 {
	n := a.ringLen
	if n < 2 {
		return nil
	}
	var mx, my float64
	for i := 0; i < n; i++ {
		mx += a.ringX[i]
		my += a.ringY[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy float64
	for i := 0; i < n; i++ {
		dx := a.ringX[i] - mx
		sxx += dx * dx
		sxy += dx * (a.ringY[i] - my)
	}
	if sxx == 0 {
		return nil // every point at the same step: no slope
	}
	b := sxy / sxx
	return &b
}

// Summaries returns one summary per key seen, sorted by key. It does not
// change the Summarizer, so it may be called while the stream continues.
func (s *Summarizer) Summaries() []MetricSummary {
	out := make([]MetricSummary, 0, len(s.keys))
	for key, a := range s.keys {
		m := MetricSummary{
			Key:        key,
			Goal:       a.goal,
			Count:      a.count,
			NonNumeric: a.nonNumeric,
			NonFinite:  a.nonFinite,
		}
		if a.count > 0 {
			m.Last, m.Min, m.Max, m.Mean = a.last, a.min, a.max, a.mean
			if a.count > 1 {
				m.Std = math.Sqrt(a.m2 / float64(a.count-1))
			}
			if a.goal != GoalUnknown {
				st := a.bestStep
				m.BestStep = &st
			}
			m.EMA = a.ema
			m.Slope = a.slope()
			m.FirstStep, m.LastStep = a.firstStep, a.lastStep
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
