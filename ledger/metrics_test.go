package ledger_test

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
)

func summaryOf(key string, goal kernels.Goal, vals ...float64) kernels.MetricSummary {
	s := kernels.NewSummarizer(kernels.SummaryOptions{Goals: func(string) kernels.Goal { return goal }})
	for i, v := range vals {
		s.Add(int64(i), key, []byte(strconv.FormatFloat(v, 'g', -1, 64)))
	}
	return s.Summaries()[0]
}

func TestMetricsStoredWithRunAndReplacedOnReread(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	o := observe(t.TempDir(), "r1", "aaa", t0)
	o.Meta.Metrics = ledger.StoredMetrics([]kernels.MetricSummary{
		summaryOf("train/loss", kernels.GoalLower, 3, 1, 2),
		summaryOf("lr", kernels.GoalUnknown, 0.1),
	}, map[string]kernels.Goal{"eval/nrmse": kernels.GoalLower, "train/loss": kernels.GoalHigher})
	mustUpsert(t, db, o)

	got, err := db.RunMetrics(ctx, []string{o.Dir})
	if err != nil {
		t.Fatal(err)
	}
	ms := got[o.Dir]
	if len(ms) != 3 {
		t.Fatalf("stored %d metrics, want 3 (two history keys and the declared summary-only one): %+v", len(ms), ms)
	}
	byKey := map[string]ledger.MetricSummary{}
	for _, m := range ms {
		byKey[m.Key] = m
	}
	loss := byKey["train/loss"]
	if loss.Count != 3 || loss.Last != 2 || loss.Min != 1 || loss.Max != 3 || loss.Mean != 2 || loss.Std != 1 {
		t.Errorf("train/loss stats = %+v", loss.MetricSummary)
	}
	if loss.BestStep == nil || *loss.BestStep != 1 || loss.Slope == nil || *loss.Slope != -0.5 {
		t.Errorf("train/loss best step / slope = %v / %v, want 1 / -0.5", loss.BestStep, loss.Slope)
	}
	if loss.Goal != kernels.GoalHigher || loss.GoalSource != ledger.GoalFromLog {
		t.Errorf("declared goal must win over the rule: got %v from %q", loss.Goal, loss.GoalSource)
	}
	if lr := byKey["lr"]; lr.GoalSource != "" || lr.BestStep != nil || lr.Slope != nil {
		t.Errorf("lr (unknown goal, one point) = %+v", lr)
	}
	if ev := byKey["eval/nrmse"]; ev.Count != 0 || ev.Goal != kernels.GoalLower || ev.GoalSource != ledger.GoalFromLog {
		t.Errorf("declared-only eval/nrmse = %+v", ev)
	}
	if g, err := db.DeclaredGoal(ctx, "eval/nrmse", nil); err != nil || g != kernels.GoalLower {
		t.Errorf("DeclaredGoal = %v, %v; want lower", g, err)
	}
	if g, err := db.DeclaredGoal(ctx, "lr", []string{o.Dir}); err != nil || g != kernels.GoalUnknown {
		t.Errorf("DeclaredGoal(lr) = %v, %v; want unknown (no metric record)", g, err)
	}

	// The log grew and was re-read: the summaries are replaced, not merged.
	o.Size += 10
	o.Meta.Metrics = ledger.StoredMetrics([]kernels.MetricSummary{summaryOf("train/acc", kernels.GoalHigher, 0.5)}, nil)
	mustUpsert(t, db, o)
	got, err = db.RunMetrics(ctx, []string{o.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(got[o.Dir]); !reflect.DeepEqual(keys, []string{"train/acc"}) {
		t.Errorf("after re-read keys = %v, want [train/acc]", keys)
	}

	// Grown again with the same key: its row is updated, not duplicated or kept.
	o.Size += 10
	o.Meta.Metrics = ledger.StoredMetrics([]kernels.MetricSummary{summaryOf("train/acc", kernels.GoalHigher, 0.7)}, nil)
	mustUpsert(t, db, o)
	got, _ = db.RunMetrics(ctx, []string{o.Dir})
	if ms := got[o.Dir]; len(ms) != 1 || ms[0].Last != 0.7 {
		t.Errorf("after a second re-read: %+v, want train/acc with its last value 0.7", ms)
	}

	// An unchanged observation (not re-read) keeps them.
	o.Meta = nil
	mustUpsert(t, db, o)
	got, _ = db.RunMetrics(ctx, []string{o.Dir})
	if len(got[o.Dir]) != 1 {
		t.Errorf("unchanged file lost its metrics: %v", got)
	}
}

func keysOf(ms []ledger.MetricSummary) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Key)
	}
	return out
}

func TestRegressionsRecordedReplacedAndCounted(t *testing.T) {
	db, clock := openTemp(t)
	ctx := context.Background()
	root := t.TempDir()
	a := observe(root, "stage1", "aaa", t0)
	b := observe(root, "stage2", "aaa", t0.Add(time.Hour)) // same run id: one upload group
	mustUpsert(t, db, a, b)

	reg := func(metric string, value, z float64) ledger.Regression {
		return ledger.Regression{RunID: "aaa", Project: "proj", BaselineRunIDs: []string{"x", "y"},
			Verdict: kernels.Verdict{Metric: metric, Goal: kernels.GoalLower, Value: value, BaselineN: 5,
				Median: 0.1, MAD: 0, Z: z, RelDelta: math.NaN(), Kind: kernels.VerdictRegression, Reason: metric + " worse"}}
	}
	if err := db.RecordRegressions(ctx, a.Dir, []string{"eval/nrmse", "eval/mse"},
		[]ledger.Regression{reg("eval/nrmse", 0.5, math.Inf(1)), reg("eval/mse", math.NaN(), 4)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	// Re-evaluated through the other stage: eval/nrmse is fine now, eval/mse untouched.
	if err := db.RecordRegressions(ctx, b.Dir, []string{"eval/nrmse"}, nil); err != nil {
		t.Fatal(err)
	}
	regs, err := db.Regressions(ctx, ledger.RegressionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 1 || regs[0].Verdict.Metric != "eval/mse" {
		t.Fatalf("regressions = %+v, want only eval/mse", regs)
	}
	g := regs[0]
	if !math.IsNaN(g.Verdict.Value) || g.Verdict.Z != 4 || !math.IsNaN(g.Verdict.RelDelta) || !g.Verdict.ZeroSpread {
		t.Errorf("non-finite values did not round-trip: %+v", g.Verdict)
	}
	if g.Name != "run aaa" || g.Dir != a.Dir || !reflect.DeepEqual(g.BaselineRunIDs, []string{"x", "y"}) {
		t.Errorf("regression row = %+v", g)
	}
	if n, err := db.CountRegressions(ctx); err != nil || n != 1 {
		t.Errorf("CountRegressions = %d, %v; want 1", n, err)
	}
	if regs, _ := db.Regressions(ctx, ledger.RegressionFilter{Since: clock.Now()}); len(regs) != 0 {
		t.Errorf("--since after the evaluation still lists %d", len(regs))
	}
	if regs, _ := db.Regressions(ctx, ledger.RegressionFilter{Metric: "eval/nrmse"}); len(regs) != 0 {
		t.Errorf("metric filter lists %d cleared regressions", len(regs))
	}
	evs, err := db.Events(ctx, []string{"regression"}, 10)
	if err != nil || len(evs) != 2 {
		t.Errorf("regression events = %d, %v; want 2", len(evs), err)
	}
	// The run renamed in W&B (its log read again): the regression shows the new name.
	a.Size++
	a.Meta.Name = "renamed"
	mustUpsert(t, db, a)
	if regs, err := db.Regressions(ctx, ledger.RegressionFilter{}); err != nil || len(regs) != 1 || regs[0].Name != "renamed" {
		t.Errorf("after the rename: %+v, %v; want the name renamed", regs, err)
	}
}

func TestMergeSummariesInStageOrder(t *testing.T) {
	t1, t2 := t0, t0.Add(time.Hour)
	runs := []ledger.Run{
		{Dir: "/r/b", Meta: ledger.Meta{StartTime: &t2, SummaryJSON: `{"loss": 0.5, "eval/nrmse": "NaN"}`}},
		{Dir: "/r/a", Meta: ledger.Meta{StartTime: &t1, SummaryJSON: `{"loss": 1, "train/acc": 0.7, "eval/nrmse": 0.2}`}},
		{Dir: "/r/c", Meta: ledger.Meta{StartTime: &t2, SummaryJSON: `not json`}},
	}
	got := ledger.MergeSummaries(runs)
	if got["loss"] != 0.5 || got["train/acc"] != 0.7 {
		t.Errorf("merged = %v: the later stage must win, earlier keys stay", got)
	}
	if v, ok := got["eval/nrmse"].(float64); !ok || !math.IsNaN(v) {
		t.Errorf("eval/nrmse = %#v, want NaN restored from the later stage", got["eval/nrmse"])
	}
	if runs[0].Dir != "/r/a" || runs[2].Dir != "/r/c" {
		t.Errorf("stage order = %s, %s, %s", runs[0].Dir, runs[1].Dir, runs[2].Dir)
	}
}

func TestJobTelemetryGPUHoursAndEnergy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := openAt(t, path, newClock())
	rawExec(t, path, `INSERT INTO jobs (id, argv, run_id, state, submitted_at, started_at, ended_at, gpu_uuids, energy_j)
		VALUES (7, '["train"]', 'aaa', 'succeeded', 0, 1000, 7201000, '["GPU-a","GPU-b"]', 5000),
		       (8, '["eval"]', 'bbb', 'running', 0, 1000, NULL, '["GPU-a"]', NULL)`)
	got, err := db.JobTelemetry(context.Background(), []int64{7, 8, 9})
	if err != nil {
		t.Fatal(err)
	}
	if j := got[7]; j.GPUHours == nil || *j.GPUHours != 4 || j.EnergyJ == nil || *j.EnergyJ != 5000 {
		t.Errorf("job 7 (2 GPUs for 2 h, 5 kJ) = %+v", j)
	}
	if j, ok := got[8]; !ok || j.GPUHours != nil || j.EnergyJ != nil {
		t.Errorf("running job 8 = %+v, %v: want known but without hours or energy", j, ok)
	}
	if _, ok := got[9]; ok {
		t.Errorf("unknown job 9 reported")
	}
}
