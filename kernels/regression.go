package kernels

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
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
// Z and RelChange are signed so that positive means worse under Goal
// (for GoalUnknown, positive means higher). Either may be ±Inf; in JSON
// those are written as the strings "Infinity" / "-Infinity".
type Verdict struct {
	Metric    string      `json:"metric"`
	Goal      Goal        `json:"goal"`
	Value     float64     `json:"value"`
	BaselineN int         `json:"baseline_n"`
	Median    float64     `json:"median"`
	MAD       float64     `json:"mad"`
	Z         float64     `json:"z"`          // robust z: (x-median)/(1.4826*MAD), positive = worse
	RelChange float64     `json:"rel_change"` // (x-median)/|median|, positive = worse
	Kind      VerdictKind `json:"kind"`
	Reason    string      `json:"reason"`
}

// MarshalJSON writes non-finite numbers as strings instead of failing.
func (v Verdict) MarshalJSON() ([]byte, error) {
	return json.Marshal(verdictJSON{
		Metric: v.Metric, Goal: v.Goal, Value: jsonFloat(v.Value), BaselineN: v.BaselineN,
		Median: jsonFloat(v.Median), MAD: jsonFloat(v.MAD), Z: jsonFloat(v.Z),
		RelChange: jsonFloat(v.RelChange), Kind: v.Kind, Reason: v.Reason,
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
		Median: float64(j.Median), MAD: float64(j.MAD), Z: float64(j.Z),
		RelChange: float64(j.RelChange), Kind: j.Kind, Reason: j.Reason,
	}
	return nil
}

type verdictJSON struct {
	Metric    string      `json:"metric"`
	Goal      Goal        `json:"goal"`
	Value     jsonFloat   `json:"value"`
	BaselineN int         `json:"baseline_n"`
	Median    jsonFloat   `json:"median"`
	MAD       jsonFloat   `json:"mad"`
	Z         jsonFloat   `json:"z"`
	RelChange jsonFloat   `json:"rel_change"`
	Kind      VerdictKind `json:"kind"`
	Reason    string      `json:"reason"`
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
// material (|relative change| > RelThreshold): a tiny drift of a very
// stable metric is not a regression.
//
// Edge cases:
//   - MAD = 0 (constant baseline): Z is +Inf when the value is worse by more
//     than RelThreshold, -Inf when better by more than RelThreshold, else 0.
//   - median = 0: RelChange is ±Inf for any change (0 when equal).
//   - non-finite value (a NaN loss from a diverged run): a regression for a
//     known goal, with Z and RelChange +Inf.
//   - GoalUnknown: Z and RelChange are signed as higher = positive, and the
//     kind is never regression or improved (no direction to judge); the
//     reason says when the change would have counted.
//   - non-finite baseline values are ignored.
func Check(metric string, goal Goal, value float64, base Baseline, opts RegressionOptions) Verdict {
	opts = opts.withDefaults()
	vals := make([]float64, 0, len(base.Values))
	for _, x := range base.Values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			vals = append(vals, x)
		}
	}
	v := Verdict{Metric: metric, Goal: goal, Value: value, BaselineN: len(vals)}
	if len(vals) > 0 {
		v.Median, v.MAD = medianMAD(vals)
	}
	if len(vals) < opts.MinBaseline {
		v.Kind = VerdictNotEnoughHistory
		v.Reason = fmt.Sprintf("baseline has %d run(s) with %s, need %d", len(vals), metric, opts.MinBaseline)
		return v
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		v.Z, v.RelChange = math.Inf(1), math.Inf(1)
		if goal == GoalUnknown {
			v.Kind = VerdictOK
			v.Reason = fmt.Sprintf("value is %v; goal unknown, add a goal rule to judge %s", value, metric)
			return v
		}
		v.Kind = VerdictRegression
		v.Reason = fmt.Sprintf("value is %v (baseline median %.6g over %d runs)", value, v.Median, len(vals))
		return v
	}

	d := value - v.Median // positive = higher
	if goal == GoalHigher {
		d = -d // positive = worse
	}
	switch {
	case v.Median != 0:
		v.RelChange = d / math.Abs(v.Median)
	case d > 0:
		v.RelChange = math.Inf(1)
	case d < 0:
		v.RelChange = math.Inf(-1)
	}
	if v.MAD > 0 {
		v.Z = d / (madScale * v.MAD)
	} else {
		switch {
		case v.RelChange > opts.RelThreshold:
			v.Z = math.Inf(1)
		case v.RelChange < -opts.RelThreshold:
			v.Z = math.Inf(-1)
		}
	}

	worse := v.Z > opts.ZThreshold && v.RelChange > opts.RelThreshold
	better := v.Z < -opts.ZThreshold && v.RelChange < -opts.RelThreshold
	what := fmt.Sprintf("%s = %.6g vs baseline median %.6g (%+.1f%%, robust z %+.2f over %d runs)",
		metric, value, v.Median, 100*v.RelChange, v.Z, len(vals))
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
	}
	picks := make([]pick, 0, len(all))
	for _, c := range all {
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
		picks = append(picks, pick{id: c.RunID, ended: c.EndedAt, v: x})
	}
	sort.SliceStable(picks, func(i, j int) bool {
		if !picks[i].ended.Equal(picks[j].ended) {
			return picks[i].ended.After(picks[j].ended)
		}
		return picks[i].id < picks[j].id
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
