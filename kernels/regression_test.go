package kernels

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCheckVerdicts(t *testing.T) {
	// median 0.10; |deviations| sorted 0,0,0,.01,.01,.02 -> MAD 0.005
	noisy := Baseline{Values: []float64{0.10, 0.11, 0.09, 0.10, 0.12, 0.10}}
	const sd = madScale * 0.005
	inf, nan := math.Inf(1), math.NaN()
	// Every z and relative delta is new minus baseline; the goal says which way is worse.
	tests := []struct {
		name     string
		metric   string
		goal     Goal
		value    float64
		base     Baseline
		kind     VerdictKind
		z, rel   float64
		median   float64
		mad      float64
		baseN    int
		inReason string
	}{
		{"clear regression of a loss", "eval/nrmse", GoalLower, 0.15, noisy, VerdictRegression, 0.05 / sd, 0.5, 0.10, 0.005, 6, "worse"},
		{"within noise", "eval/nrmse", GoalLower, 0.105, noisy, VerdictOK, 0.005 / sd, 0.05, 0.10, 0.005, 6, "within noise"},
		{"improved loss", "eval/nrmse", GoalLower, 0.07, noisy, VerdictImproved, -0.03 / sd, -0.3, 0.10, 0.005, 6, "better"},
		{"accuracy drop is a regression with negative z (higher is better)", "eval/acc", GoalHigher, 0.80,
			Baseline{Values: []float64{0.90, 0.91, 0.89, 0.90, 0.92}}, VerdictRegression, -0.1 / (madScale * 0.01), -0.1 / 0.9, 0.90, 0.01, 5, "-11.1%"},
		{"accuracy rise is an improvement with positive z", "eval/acc", GoalHigher, 0.99,
			Baseline{Values: []float64{0.90, 0.91, 0.89, 0.90, 0.92}}, VerdictImproved, 0.09 / (madScale * 0.01), 0.1, 0.90, 0.01, 5, "better"},
		{"not enough history with 4 runs", "eval/nrmse", GoalLower, 0.5,
			Baseline{Values: []float64{0.1, 0.1, 0.1, 0.1}}, VerdictNotEnoughHistory, nan, nan, 0.1, 0, 4, "need 5"},
		{"non-finite baseline values do not count", "eval/nrmse", GoalLower, 0.5,
			Baseline{Values: []float64{math.NaN(), 0.1, 0.1, inf, 0.1, 0.1}}, VerdictNotEnoughHistory, nan, nan, 0.1, 0, 4, "need 5"},
		{"constant baseline, worse beyond rel threshold: z is finite against the floor", "eval/mse", GoalLower, 1.5,
			Baseline{Values: []float64{1, 1, 1, 1, 1}}, VerdictRegression, 500, 0.5, 1, 0, 5, "the baseline has no spread"},
		{"constant baseline, better beyond rel threshold", "eval/mse", GoalLower, 0.5,
			Baseline{Values: []float64{1, 1, 1, 1, 1}}, VerdictImproved, -500, -0.5, 1, 0, 5, "better"},
		{"constant baseline, change below rel threshold is not flagged", "eval/mse", GoalLower, 1.005,
			Baseline{Values: []float64{1, 1, 1, 1, 1}}, VerdictOK, 5, 0.005, 1, 0, 5, "within noise"},
		{"very stable metric: large z but below 1% is not flagged", "eval/mse", GoalLower, 1.005,
			Baseline{Values: []float64{1.0000, 1.0001, 0.9999, 1.0000, 1.0001}}, VerdictOK, 0.005 / (madScale * 0.0001), 0.005, 1, 0.0001, 5, "within noise"},
		{"one wild baseline run does not hide a regression", "eval/nrmse", GoalLower, 0.15,
			Baseline{Values: []float64{0.10, 0.11, 0.09, 0.10, 0.12, 5.0}}, VerdictRegression, 0.045 / (madScale * 0.01), 0.045 / 0.105, 0.105, 0.01, 6, "worse"},
		{"diverged run (NaN) is a regression, with no z", "train/loss", GoalLower, math.NaN(), noisy, VerdictRegression, nan, nan, 0.10, 0.005, 6, "NaN"},
		{"unknown goal is never flagged, but the reason says it moved", "eval/physics/energy", GoalUnknown, 0.15, noisy,
			VerdictOK, 0.05 / sd, 0.5, 0.10, 0.005, 6, "goal unknown"},
		{"zero median: no relative delta, any change is material", "eval/physics/gap", GoalLower, 0.2,
			Baseline{Values: []float64{0, 0, 0, 0.1, -0.1}}, VerdictRegression, 0.2 / 1e-9, nan, 0, 0, 5, "no relative change from 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Check(tt.metric, tt.goal, tt.value, tt.base, RegressionOptions{})
			if v.Kind != tt.kind {
				t.Errorf("kind = %s, want %s (%s)", v.Kind, tt.kind, v.Reason)
			}
			if v.Metric != tt.metric || v.Goal != tt.goal || v.BaselineN != tt.baseN {
				t.Errorf("verdict = %+v", v)
			}
			if !near(v.Median, tt.median) || !near(v.MAD, tt.mad) {
				t.Errorf("median, MAD = %g, %g; want %g, %g", v.Median, v.MAD, tt.median, tt.mad)
			}
			if !nearOrNaN(v.Z, tt.z) || !nearOrNaN(v.RelDelta, tt.rel) {
				t.Errorf("z, rel = %g, %g; want %g, %g", v.Z, v.RelDelta, tt.z, tt.rel)
			}
			if math.IsInf(v.Z, 0) {
				t.Errorf("z is infinite")
			}
			if !strings.Contains(v.Reason, tt.inReason) {
				t.Errorf("reason %q lacks %q", v.Reason, tt.inReason)
			}
		})
	}
}

func nearOrNaN(a, b float64) bool {
	if math.IsNaN(b) {
		return math.IsNaN(a)
	}
	return near(a, b)
}

func TestCheckThresholdOptions(t *testing.T) {
	base := Baseline{Values: []float64{0.10, 0.11, 0.09, 0.10, 0.12, 0.10}}
	// z = 0.005/(1.4826*0.005) = 0.67, rel = 5%
	tests := []struct {
		opts RegressionOptions
		want VerdictKind
	}{
		{RegressionOptions{}, VerdictOK},
		{RegressionOptions{ZThreshold: 0.5}, VerdictRegression},
		{RegressionOptions{ZThreshold: 0.5, RelThreshold: 0.06}, VerdictOK},
		{RegressionOptions{MinBaseline: 7}, VerdictNotEnoughHistory},
	}
	for _, tt := range tests {
		if got := Check("eval/nrmse", GoalLower, 0.105, base, tt.opts).Kind; got != tt.want {
			t.Errorf("opts %+v: kind = %s, want %s", tt.opts, got, tt.want)
		}
	}
}

// In JSON a zero-spread baseline gives a finite z and says so; a diverged
// run's value is "NaN" (as W&B writes it) and its undefined z is null.
func TestVerdictJSON(t *testing.T) {
	v := Check("eval/mse", GoalLower, 2, Baseline{Values: []float64{1, 1, 1, 1, 1}}, RegressionOptions{})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"z_score":1000`, `"rel_delta":1`, `"zero_spread":true`, `"kind":"regression"`, `"baseline_n":5`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("verdict JSON lacks %s: %s", want, b)
		}
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil || back.Z != 1000 || !back.ZeroSpread || back.Kind != VerdictRegression {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	nan := Check("train/loss", GoalLower, math.NaN(), Baseline{Values: []float64{1, 1.1, 0.9, 1, 1}}, RegressionOptions{})
	b, err = json.Marshal(nan)
	if err != nil || !strings.Contains(string(b), `"value":"NaN"`) || !strings.Contains(string(b), `"z_score":null`) ||
		!strings.Contains(string(b), `"rel_delta":null`) {
		t.Fatalf("NaN verdict JSON = %s, %v", b, err)
	}
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.Z) || !math.IsNaN(back.Value) {
		t.Fatalf("NaN round trip = %+v, %v", back, err)
	}
}

func TestSelectBaseline(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	run := func(id string, h int, v any) Candidate {
		return Candidate{RunID: id, Dir: "/w/offline-run-" + id, Project: "pde", Finished: true, EndedAt: at(h),
			Summary: map[string]any{"eval/nrmse": v}}
	}
	with := func(c Candidate, f func(*Candidate)) Candidate { f(&c); return c }
	target := Candidate{RunID: "target", Project: "pde"}
	tests := []struct {
		name    string
		target  Candidate
		all     []Candidate
		n       int
		wantIDs []string
		wantVal []float64
	}{
		{"newest first, n limits", target,
			[]Candidate{run("a", 1, 0.1), run("c", 3, 0.3), run("b", 2, 0.2), run("d", 4, 0.4)}, 3,
			[]string{"d", "c", "b"}, []float64{0.4, 0.3, 0.2}},
		{"excludes the target by run id, in any dir", target,
			[]Candidate{run("a", 1, 0.1), with(run("target", 2, 0.2), func(c *Candidate) { c.Dir = "/elsewhere" })}, 0,
			[]string{"a"}, []float64{0.1}},
		{"other projects excluded", target,
			[]Candidate{run("a", 1, 0.1), with(run("b", 2, 0.2), func(c *Candidate) { c.Project = "other" })}, 0,
			[]string{"a"}, []float64{0.1}},
		{"unfinished runs excluded", target,
			[]Candidate{run("a", 1, 0.1), with(run("b", 2, 0.2), func(c *Candidate) { c.Finished = false })}, 0,
			[]string{"a"}, []float64{0.1}},
		{"missing, non-numeric and non-finite metric excluded", target,
			[]Candidate{run("a", 1, 0.1), run("b", 2, nil), run("c", 3, "n/a"), run("d", 4, math.NaN()), run("e", 5, true),
				with(run("f", 6, 0.6), func(c *Candidate) { c.Summary = nil }), run("g", 7, json.Number("0.7")), run("h", 8, 8)}, 0,
			[]string{"h", "g", "a"}, []float64{8, 0.7, 0.1}},
		{"group filter when the target has a group", Candidate{RunID: "target", Project: "pde", Group: "fno"},
			[]Candidate{with(run("a", 1, 0.1), func(c *Candidate) { c.Group = "fno" }), with(run("b", 2, 0.2), func(c *Candidate) { c.Group = "unet" }), run("c", 3, 0.3)}, 0,
			[]string{"a"}, []float64{0.1}},
		{"job type filter when the target has one", Candidate{RunID: "target", Project: "pde", JobType: "eval"},
			[]Candidate{with(run("a", 1, 0.1), func(c *Candidate) { c.JobType = "eval" }), with(run("b", 2, 0.2), func(c *Candidate) { c.JobType = "train" })}, 0,
			[]string{"a"}, []float64{0.1}},
		{"no group on the target: any group", target,
			[]Candidate{with(run("a", 1, 0.1), func(c *Candidate) { c.Group = "fno" }), run("b", 2, 0.2)}, 0,
			[]string{"b", "a"}, []float64{0.2, 0.1}},
		{"finished target: only runs that ended before it", Candidate{RunID: "target", Project: "pde", Finished: true, EndedAt: at(3)},
			[]Candidate{run("a", 1, 0.1), run("b", 2, 0.2), run("c", 4, 0.4)}, 0,
			[]string{"b", "a"}, []float64{0.2, 0.1}},
		{"a run copied in twice counts once", target,
			[]Candidate{run("a", 1, 0.1), with(run("a", 2, 0.15), func(c *Candidate) { c.Dir = "/copy" }), run("b", 0, 0.2)}, 0,
			[]string{"a", "b"}, []float64{0.15, 0.2}},
		{"default n is 20", target, manyRuns(run, 25), 0, idsDesc(25, 20), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := SelectBaseline(tt.target, "eval/nrmse", tt.all, tt.n)
			if !reflect.DeepEqual(b.RunIDs, tt.wantIDs) {
				t.Errorf("run ids = %v, want %v", b.RunIDs, tt.wantIDs)
			}
			if tt.wantVal != nil && !reflect.DeepEqual(b.Values, tt.wantVal) {
				t.Errorf("values = %v, want %v", b.Values, tt.wantVal)
			}
			if len(b.Values) != len(b.RunIDs) {
				t.Errorf("%d values for %d run ids", len(b.Values), len(b.RunIDs))
			}
		})
	}
}

func manyRuns(run func(string, int, any) Candidate, n int) []Candidate {
	var out []Candidate
	for i := 0; i < n; i++ {
		out = append(out, run(runName(i), i, float64(i)))
	}
	return out
}

func idsDesc(n, take int) []string {
	var out []string
	for i := n - 1; i >= n-take; i-- {
		out = append(out, runName(i))
	}
	return out
}

func runName(i int) string { return "r" + string(rune('a'+i/10)) + string(rune('0'+i%10)) }
