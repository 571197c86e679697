package kernels

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Defaults for RegressionOptions and SelectBaseline.
const (
	DefaultMinBaseline  = 5
	DefaultZThreshold   = 3.0
	DefaultRelThreshold = 0.01
	DefaultBaselineN    = 20
)

// madScale turns a median absolute deviation into a consistent estimate of
// the standard deviation for normally distributed data.
const madScale = 1.4826

// Baseline is the set of earlier values a run is judged against, newest first.
type Baseline struct {
	Values []float64 `json:"values"`
	RunIDs []string  `json:"run_ids"`
}

// VerdictKind is the outcome of a regression check.
type VerdictKind string

const (
	VerdictRegression       VerdictKind = "regression"
	VerdictOK               VerdictKind = "ok"
	VerdictImproved         VerdictKind = "improved"
	VerdictNotEnoughHistory VerdictKind = "not_enough_history"
)

// Verdict is the result of Check for one metric of one run.
//
// Z and RelDelta are new minus baseline, as every delta runner prints
// (docs/design.md "Signs"): positive means the value went up; whether that is
// better or worse comes from Goal, and Kind says it. Z is finite whenever
// Value is: the spread has a floor (SpreadFloor), and ZeroSpread says when the
// baseline had none. RelDelta is NaN when the median is 0 (no relative
// change exists); both are NaN for a non-finite Value. NaN is null in JSON.
type Verdict struct {
	Metric     string      `json:"metric"`
	Goal       Goal        `json:"goal"`
	Value      float64     `json:"value"`
	BaselineN  int         `json:"baseline_n"`
	Median     float64     `json:"median"`
	MAD        float64     `json:"mad"`
	Z          float64     `json:"z_score"`     // (value-median) / max(1.4826·MAD, SpreadFloor)
	RelDelta   float64     `json:"rel_delta"`   // (value-median) / |median|
	ZeroSpread bool        `json:"zero_spread"` // MAD was 0: Z is measured against the floor
	Kind       VerdictKind `json:"kind"`
	Reason     string      `json:"reason"`
}

// SpreadFloor is the least spread a baseline is given: 0.1 % of |median|
// (at least 1e-9), so a constant baseline gives a large but finite z.
func SpreadFloor(median float64) float64 { return max(1e-3*math.Abs(median), 1e-9) }

// MarshalJSON writes a non-finite value as W&B does ("NaN", "Infinity")
// and an undefined z or relative delta as null.
func (v Verdict) MarshalJSON() ([]byte, error) {
	return json.Marshal(verdictJSON{
		Metric: v.Metric, Goal: v.Goal, Value: jsonFloat(v.Value), BaselineN: v.BaselineN,
		Median: jsonFloat(v.Median), MAD: jsonFloat(v.MAD), Z: finiteOrNil(v.Z),
		RelDelta: finiteOrNil(v.RelDelta), ZeroSpread: v.ZeroSpread, Kind: v.Kind, Reason: v.Reason,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	var j verdictJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Verdict{
		Metric: j.Metric, Goal: j.Goal, Value: float64(j.Value), BaselineN: j.BaselineN,
		Median: float64(j.Median), MAD: float64(j.MAD), Z: nilToNaN(j.Z),
		RelDelta: nilToNaN(j.RelDelta), ZeroSpread: j.ZeroSpread, Kind: j.Kind, Reason: j.Reason,
	}
	return nil
}

type verdictJSON struct {
	Metric     string      `json:"metric"`
	Goal       Goal        `json:"goal"`
	Value      jsonFloat   `json:"value"`
	BaselineN  int         `json:"baseline_n"`
	Median     jsonFloat   `json:"median"`
	MAD        jsonFloat   `json:"mad"`
	Z          *float64    `json:"z_score"`
	RelDelta   *float64    `json:"rel_delta"`
	ZeroSpread bool        `json:"zero_spread"`
	Kind       VerdictKind `json:"kind"`
	Reason     string      `json:"reason"`
}

func finiteOrNil(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func nilToNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// RegressionOptions tunes Check. Zero values take the defaults.
type RegressionOptions struct {
	MinBaseline  int     // fewer finite baseline values than this -> not_enough_history; default 5
	ZThreshold   float64 // |robust z| must exceed this; default 3
	RelThreshold float64 // and |relative change| must exceed this; default 0.01 (1%)
}

func (o RegressionOptions) withDefaults() RegressionOptions {
	if o.MinBaseline <= 0 {
		o.MinBaseline = DefaultMinBaseline
	}
	if !(o.ZThreshold > 0) {
		o.ZThreshold = DefaultZThreshold
	}
	if !(o.RelThreshold > 0) {
		o.RelThreshold = DefaultRelThreshold
	}
	return o
}

// Check judges value against the baseline with a robust z-score (median and
// MAD, so one bad run in the baseline does not hide or fake a regression).
// A change is flagged only when it is both unusual (|z| > ZThreshold) and
// material (|relative delta| > RelThreshold): a tiny drift of a very
// stable metric is not a regression. Deltas are new minus baseline; the
// goal decides which sign is worse.
//
// Edge cases:
//   - MAD = 0 (constant baseline): the spread is SpreadFloor(median), so z
//     stays finite; ZeroSpread is set and the reason says so.
//   - median = 0: no relative delta (NaN); any change counts as material.
//   - non-finite value (a NaN loss from a diverged run): a regression for a
//     known goal, with z and relative delta NaN (null in JSON).
//   - GoalUnknown: the kind is never regression or improved (no direction
//     to judge); the reason says when the change would have counted.
//   - non-finite baseline values are ignored.
func Check(metric string, goal Goal, value float64, base Baseline, opts RegressionOptions) Verdict {
	opts = opts.withDefaults()
	vals := make([]float64, 0, len(base.Values))
	for _, x := range base.Values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			vals = append(vals, x)
		}
	}
	v := Verdict{Metric: metric, Goal: goal, Value: value, BaselineN: len(vals), Z: math.NaN(), RelDelta: math.NaN()}
	if len(vals) > 0 {
		v.Median, v.MAD = medianMAD(vals)
	}
	if len(vals) < opts.MinBaseline {
		v.Kind = VerdictNotEnoughHistory
		v.Reason = fmt.Sprintf("baseline has %d run(s) with %s, need %d", len(vals), metric, opts.MinBaseline)
		return v
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		if goal == GoalUnknown {
			v.Kind = VerdictOK
			v.Reason = fmt.Sprintf("value is %v; goal unknown, add a goal rule to judge %s", value, metric)
			return v
		}
		v.Kind = VerdictRegression
		v.Reason = fmt.Sprintf("value is %v (baseline median %.6g over %d runs)", value, v.Median, len(vals))
		return v
	}

	d := value - v.Median
	spread := madScale * v.MAD
	if v.MAD == 0 {
		spread, v.ZeroSpread = SpreadFloor(v.Median), true
	}
	v.Z = d / spread
	if v.Median != 0 {
		v.RelDelta = d / math.Abs(v.Median)
	}
	// worseSign is +1 when a rise is worse: lower is better (and, for
	// thresholds only, an unknown goal).
	worseSign := 1.0
	if goal == GoalHigher {
		worseSign = -1
	}
	material := func(sign float64) bool {
		if v.Median == 0 {
			return sign*worseSign*d > 0
		}
		return sign*worseSign*v.RelDelta > opts.RelThreshold
	}
	worse := worseSign*v.Z > opts.ZThreshold && material(1)
	better := worseSign*v.Z < -opts.ZThreshold && material(-1)

	rel := "no relative change from 0"
	if v.Median != 0 {
		rel = fmt.Sprintf("%+.1f%%", 100*v.RelDelta)
	}
	spreadNote := ""
	if v.ZeroSpread {
		spreadNote = ", the baseline has no spread: z against 0.1% of the median"
	}
	what := fmt.Sprintf("%s = %.6g vs baseline median %.6g (%+.4g, %s, z %+.2f over %d runs%s)",
		metric, value, v.Median, d, rel, v.Z, len(vals), spreadNote)
	switch {
	case goal == GoalUnknown:
		v.Kind = VerdictOK
		if worse || better {
			v.Reason = what + "; changed beyond thresholds but goal unknown, add a goal rule"
		} else {
			v.Reason = what + "; within noise"
		}
	case worse:
		v.Kind = VerdictRegression
		v.Reason = what + "; worse (" + goal.String() + " is better)"
	case better:
		v.Kind = VerdictImproved
		v.Reason = what + "; better (" + goal.String() + " is better)"
	default:
		v.Kind = VerdictOK
		v.Reason = what + "; within noise"
	}
	return v
}

// medianMAD returns the median and the median absolute deviation of xs
// (len > 0). xs is reordered.
func medianMAD(xs []float64) (median, mad float64) {
	median = medianInPlace(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - median)
	}
	return median, medianInPlace(dev)
}

// medianInPlace sorts xs and returns the middle value, or the mean of the
// two middle values for even length.
func medianInPlace(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Candidate is what SelectBaseline needs to know about one run from the ledger.
type Candidate struct {
	RunID    string         `json:"run_id"`
	Dir      string         `json:"dir"`
	Project  string         `json:"project"`
	Group    string         `json:"group"`
	JobType  string         `json:"job_type"`
	Finished bool           `json:"finished"`
	EndedAt  time.Time      `json:"ended_at"`
	Summary  map[string]any `json:"summary"`
}

// SelectBaseline picks the runs target is judged against: the newest n
// (default 20 when n <= 0) finished runs of the same project, and of the same
// group and job type when the target has them, that have a finite numeric
// summary value for metric; newest first by EndedAt (ties by RunID).
//
// Excluded: the target itself (same RunID, whatever its dir), runs that
// ended after a finished target (so re-checking an old run compares it with
// what came before it, not with its successors), and duplicate copies of a
// run id (a run dir copied in twice counts once, its newest copy).
func SelectBaseline(target Candidate, metric string, all []Candidate, n int) Baseline {
	if n <= 0 {
		n = DefaultBaselineN
	}
	type pick struct {
		id    string
		ended time.Time
		v     float64
		at    int // index in all
	}
	picks := make([]pick, 0, len(all))
	for i, c := range all {
		if !c.Finished || c.RunID == target.RunID || c.Project != target.Project {
			continue
		}
		if target.Group != "" && c.Group != target.Group {
			continue
		}
		if target.JobType != "" && c.JobType != target.JobType {
			continue
		}
		if target.Finished && !target.EndedAt.IsZero() && c.EndedAt.After(target.EndedAt) {
			continue
		}
		x, ok := numeric(c.Summary[metric])
		if !ok {
			continue
		}
		picks = append(picks, pick{id: c.RunID, ended: c.EndedAt, v: x, at: i})
	}
	// Newest first, then by id, then in the order given (what a stable
	// sort keeps); a total order lets the faster unstable sort give the
	// same answer (a report sorts a 50,000-run project once per run shown).
	slices.SortFunc(picks, func(a, b pick) int {
		if c := b.ended.Compare(a.ended); c != 0 {
			return c
		}
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return a.at - b.at
	})
	var b Baseline
	seen := make(map[string]bool, len(picks))
	for _, p := range picks {
		if len(b.Values) == n {
			break
		}
		if seen[p.id] {
			continue
		}
		seen[p.id] = true
		b.Values = append(b.Values, p.v)
		b.RunIDs = append(b.RunIDs, p.id)
	}
	return b
}
