package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/plot"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// runSpec is one generated offline run.
type runSpec struct {
	id, name, project string
	start             time.Time
	lr                float64
	summary           map[string]float64 // final summary records (eval metrics)
	losses            []float64          // train/loss history, one row per step
	oddSteps          bool               // also log a string and a NaN train/loss
	declare           map[string]int     // metric records: name -> wandbtest.Goal*
}

// writeRun writes spec as wandb/offline-run-<stamp>-<id>/run-<id>.wandb under
// root and dates the log at its end, so it is ready without waiting.
func writeRun(t *testing.T, root string, s runSpec) string {
	t.Helper()
	dir := filepath.Join(root, "wandb", "offline-run-"+s.start.UTC().Format("20060102_150405")+"-"+s.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run-"+s.id+".wandb")
	w, err := wandbtest.Create(path, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Header(0)
	w.Run(wandbtest.Run{ID: s.id, Project: s.project, Name: s.name, StartTime: s.start,
		Config: []wandbtest.Item{wandbtest.JSON("lr", fmt.Sprintf(`{"value": %g}`, s.lr))}, CLIVersion: "0.19.0"})
	for name, goal := range s.declare {
		w.Metric(name, goal)
	}
	for step, loss := range s.losses {
		w.Row(int64(step), float64(step), s.start.Add(time.Duration(step)*time.Second), map[string]float64{"train/loss": loss})
		if s.oddSteps && step == 1 {
			w.History(int64(step), wandbtest.String("train/loss", "diverging?"))
			w.History(int64(step), wandbtest.Float("train/loss", math.NaN()))
		}
	}
	var items []wandbtest.Item
	for k, v := range s.summary {
		items = append(items, wandbtest.Float(k, v))
	}
	w.Summary(items, nil)
	w.Exit(0, 60)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	end := s.start.Add(time.Minute)
	if err := os.Chtimes(path, end, end); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runnerCLI runs runner in-process against one ledger.
type runnerCLI struct {
	t  *testing.T
	db string
}

func (c runnerCLI) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Environ: func() []string { return nil },
		Now: time.Now, IsTerminal: func(io.Writer) bool { return false },
	}
	err := Run(context.Background(), append([]string{"runner", "--db", c.db}, args...), env)
	if line := ErrorLine(err); line != "" {
		errb.WriteString(line + "\n")
	}
	return out.String(), errb.String(), ExitCode(err)
}

func (c runnerCLI) json(v any, args ...string) int {
	c.t.Helper()
	out, errOut, code := c.run(append(args, "--json")...)
	if code == 2 {
		c.t.Fatalf("runner %v: usage error: %s", args, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("runner %v --json: %v\n%s\n%s", args, err, out, errOut)
	}
	return code
}

// history is a training curve that ends at last.
func history(n int, last float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = last + float64(n-1-i)*0.1
	}
	return out
}

var base0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// project builds one project: 8 ordinary runs, then "noise" (within noise)
// and "bad" (clearly worse on eval/nrmse), each an hour after the previous.
func project(t *testing.T) (c runnerCLI, dirs map[string]string) {
	t.Helper()
	root := t.TempDir()
	c = runnerCLI{t: t, db: filepath.Join(t.TempDir(), "ledger.db")}
	dirs = writeProject(t, root)
	if _, errOut, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, errOut)
	}
	return c, dirs
}

func writeProject(t *testing.T, root string) (dirs map[string]string) {
	t.Helper()
	dirs = map[string]string{}
	nrmse := []float64{0.100, 0.102, 0.098, 0.101, 0.099, 0.103, 0.097, 0.100}
	for i, v := range nrmse {
		id := fmt.Sprintf("base%d", i)
		dirs[id] = writeRun(t, root, runSpec{id: id, name: "baseline " + id, project: "pde", start: base0.Add(time.Duration(i) * time.Hour),
			lr: 1e-3, losses: history(5, 0.2), summary: map[string]float64{"eval/nrmse": v, "eval/psnr": 30 + float64(i%3)},
			declare: map[string]int{"eval/custom": wandbtest.GoalMaximize}})
	}
	dirs["noise"] = writeRun(t, root, runSpec{id: "noise", name: "noise", project: "pde", start: base0.Add(8 * time.Hour),
		lr: 1e-3, losses: history(5, 0.21), summary: map[string]float64{"eval/nrmse": 0.1015, "eval/psnr": 30}})
	dirs["bad"] = writeRun(t, root, runSpec{id: "bad", name: "bad lr", project: "pde", start: base0.Add(9 * time.Hour),
		lr: 3e-2, losses: []float64{0.9, 0.7, 0.8, 0.6}, oddSteps: true,
		summary: map[string]float64{"eval/nrmse": 0.150, "eval/psnr": 25, "eval/custom": 7},
		declare: map[string]int{"eval/custom": wandbtest.GoalMaximize, "train/loss": wandbtest.GoalMaximize}})
	return dirs
}

func TestCheckFlagsClearRegressionAndPassesNoise(t *testing.T) {
	c, _ := project(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"clearly worse run is flagged", []string{"check", "bad"}, 1,
			[]string{"eval/nrmse", "REGRESSION", "+50.0%", "1 regression(s) flagged"}},
		{"flags may follow the run", []string{"check", "bad", "--metric", "eval/nrmse"}, 1, []string{"REGRESSION"}},
		{"run within noise passes", []string{"check", "noise"}, 0, []string{"eval/nrmse", "within noise", "no regression flagged"}},
		{"default metrics without a goal are shown, not judged", []string{"check", "bad"}, 1, []string{"eval/psnr", "goal unknown"}},
		{"first run has no history", []string{"check", "base0", "--metric", "eval/nrmse"}, 0,
			[]string{"NOT ENOUGH HISTORY", "baseline has 0 run(s)"}},
		{"stricter thresholds can pass the bad run", []string{"check", "bad", "--metric", "eval/nrmse", "--rel", "0.9"}, 0, []string{"ok"}},
		{"too few runs for a larger min baseline", []string{"check", "bad", "--metric", "eval/nrmse", "--min-baseline", "50"}, 0,
			[]string{"NOT ENOUGH HISTORY"}},
		{"unknown goal needs --goal", []string{"check", "bad", "--metric", "eval/psnr"}, 2, nil},
		{"--goal decides an unknown goal", []string{"check", "bad", "--metric", "eval/psnr", "--goal", "higher"}, 1, []string{"REGRESSION"}},
		{"--goal-rule decides it too", []string{"check", "bad", "--metric", "eval/psnr", "--goal-rule", "psnr=lower"}, 0, []string{"IMPROVED"}},
		{"missing metric is a usage error", []string{"check", "bad", "--metric", "eval/nope"}, 2, nil},
		{"unknown run", []string{"check", "nosuchrun"}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := c.run(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	_, errOut, _ := c.run("check", "bad", "--metric", "eval/psnr")
	if !strings.Contains(errOut, "say --goal lower or --goal higher") {
		t.Errorf("unknown goal message = %q", errOut)
	}

	var rep reports.CheckReport
	if code := c.json(&rep, "check", "bad", "--metric", "eval/nrmse"); code != 1 {
		t.Fatalf("check --json exit %d, want 1", code)
	}
	v := rep.Checks[0].Verdict
	// Baseline: the 8 ordinary runs and "noise", newest first.
	if v.Kind != kernels.VerdictRegression || v.BaselineN != 9 || v.Median != 0.1 || rep.Regressions != 1 ||
		rep.Checks[0].GoalSource != "rule" || len(rep.Checks[0].BaselineRunIDs) != 9 || rep.Checks[0].BaselineRunIDs[0] != "noise" {
		t.Errorf("check --json = %+v", rep)
	}
	if math.Abs(v.RelDelta-0.5) > 1e-9 {
		t.Errorf("rel delta = %v, want 0.5", v.RelDelta)
	}
}

func TestDaemonEvaluateRecordsRegressions(t *testing.T) {
	c, dirs := project(t)
	ctx := context.Background()
	db := ledgertest.Open(t, c.db, ledger.Options{})

	rep, err := reports.Evaluate(ctx, db, dirs["noise"], reports.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// eval/psnr has no known goal and is left out; eval/nrmse is within noise.
	if rep.Regressions != 0 || len(rep.Checks) != 1 || rep.Checks[0].Verdict.Metric != "eval/nrmse" {
		t.Errorf("noise evaluation = %+v", rep)
	}
	rep, err = reports.Evaluate(ctx, db, dirs["bad"], reports.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// eval/custom is declared MAXIMIZE in the log and is higher than its baseline,
	// but its baseline is empty: not enough history.
	if rep.Regressions != 1 {
		t.Errorf("bad evaluation flagged %d, want 1: %+v", rep.Regressions, rep)
	}
	var regs []reports.RegressionJSON
	if code := c.json(&regs, "regressions"); code != 0 || len(regs) != 1 {
		t.Fatalf("regressions = %+v (exit %d), want one", regs, code)
	}
	if r := regs[0]; r.RunID != "bad" || r.Name != "bad lr" || r.Verdict.Metric != "eval/nrmse" || r.Verdict.Value != 0.15 {
		t.Errorf("regression = %+v", r)
	}
	if code := c.json(&regs, "regressions", "--metric", "eval/mse"); code != 0 || len(regs) != 0 {
		t.Errorf("--metric eval/mse lists %d", len(regs))
	}
	if code := c.json(&regs, "regressions", "--since", "1h"); code != 0 || len(regs) != 1 {
		t.Errorf("--since 1h lists %d, want 1", len(regs))
	}
	var st status.Status
	c.json(&st, "status") // exit 1: no daemon
	if st.Regressions != 1 {
		t.Errorf("status regressions = %d, want 1", st.Regressions)
	}
	out, _, _ := c.run("status")
	if !strings.Contains(out, "regressions: 1 flagged") {
		t.Errorf("status does not show the regression:\n%s", out)
	}
	// The hook the engine calls logs and records the same.
	var logs bytes.Buffer
	hook := reports.RegressionHook(db, reports.EvalOptions{Watch: []string{"eval/nrmse"}}, newTestLogger(&logs))
	hook(ctx, ledger.Run{Dir: dirs["bad"]})
	if !strings.Contains(logs.String(), "regression") || !strings.Contains(logs.String(), "eval/nrmse") {
		t.Errorf("hook log = %q", logs.String())
	}
}

func TestEngineOnReadyRecordsRegression(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dirs := writeProject(t, root)
	db := ledgertest.Open(t, "", ledger.Options{})
	var found []runsync.RunDir
	if err := runsync.Scan(ctx, root, func(rd runsync.RunDir) error { found = append(found, rd); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var readied []string
	hook := reports.RegressionHook(db, reports.EvalOptions{}, newTestLogger(&logs))
	eng := runsync.NewEngine(runsync.EngineOptions{Store: db, OnReady: func(ctx context.Context, r ledger.Run) {
		readied = append(readied, r.RunID)
		hook(ctx, r)
	}})
	// Observing judges readiness too: the finished runs are ready at once.
	_, n, err := eng.Observe(ctx, found, nil)
	if err != nil || n != len(dirs) || len(readied) != len(dirs) {
		t.Fatalf("ready %d (%v), hook saw %v; want all %d", n, err, readied, len(dirs))
	}
	regs, err := db.Regressions(ctx, ledger.RegressionFilter{})
	if err != nil || len(regs) != 1 || regs[0].Dir != dirs["bad"] || regs[0].Verdict.Metric != "eval/nrmse" {
		t.Fatalf("recorded %+v (%v), want the bad run's eval/nrmse\nlogs: %s", regs, err, logs.String())
	}
	if evs, _ := db.Events(ctx, []string{"regression"}, 10); len(evs) != 1 || evs[0].Subject != dirs["bad"] {
		t.Errorf("regression events = %+v", evs)
	}
}

func TestMetricsShowsStreamedSummaries(t *testing.T) {
	c, _ := project(t)
	var rep reports.MetricsReport
	if code := c.json(&rep, "metrics", "bad"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var loss *reports.StageMetric
	for i := range rep.Metrics {
		if rep.Metrics[i].Key == "train/loss" {
			loss = &rep.Metrics[i]
		}
	}
	if loss == nil {
		t.Fatalf("no train/loss in %+v", rep.Metrics)
	}
	// 0.9, 0.7, 0.8, 0.6 at steps 0..3, plus a string and a NaN at step 1.
	if loss.Count != 4 || loss.NonNumeric != 1 || loss.NonFinite != 1 || loss.Min != 0.6 || loss.Max != 0.9 ||
		loss.Last != 0.6 || math.Abs(loss.Mean-0.75) > 1e-12 || loss.FirstStep != 0 || loss.LastStep != 3 {
		t.Errorf("train/loss = %+v", loss.MetricSummary)
	}
	// The log declares train/loss MAXIMIZE: the best step is the maximum's.
	if loss.Goal != kernels.GoalHigher || loss.GoalSource != ledger.GoalFromLog || loss.BestStep == nil || *loss.BestStep != 0 {
		t.Errorf("train/loss goal %v (%s), best step %v; want higher from the log, step 0", loss.Goal, loss.GoalSource, loss.BestStep)
	}
	var sum map[string]any
	if err := json.Unmarshal(rep.Summary, &sum); err != nil || sum["eval/nrmse"] != 0.15 {
		t.Errorf("summary = %s (%v)", rep.Summary, err)
	}
	out, _, code := c.run("metrics", "bad")
	if code != 0 || !strings.Contains(out, "1 non-numeric, 1 NaN/Inf") || !strings.Contains(out, "higher (log)") {
		t.Errorf("metrics text:\n%s", out)
	}
}

func TestCompareSideBySide(t *testing.T) {
	c, _ := project(t)
	var rep reports.CompareReport
	if code := c.json(&rep, "compare", "base0", "bad", "--metric", "eval/nrmse", "--metric", "train/loss"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].RunID != "base0" || rep.Runs[1].Name != "bad lr" {
		t.Errorf("runs = %+v", rep.Runs)
	}
	row := rep.Summary[0]
	if row.Metric != "eval/nrmse" || *row.Values[0] != 0.1 || *row.Values[1] != 0.15 ||
		math.Abs(*row.Diff[1]-0.05) > 1e-12 || math.Abs(*row.Rel[1]-0.5) > 1e-12 {
		t.Errorf("eval/nrmse row = %+v", row)
	}
	// eval/nrmse is summary-only: no history row.
	if len(rep.History) != 1 || rep.History[0].Metric != "train/loss" || rep.History[0].Runs[0].Count != 5 || rep.History[0].Runs[1].Count != 4 {
		t.Errorf("history = %+v", rep.History)
	}
	if got := rep.ConfigDiff["lr"]; len(got) != 2 || string(got[0]) != "0.001" || string(got[1]) != "0.03" {
		t.Errorf("config diff = %v, want lr 0.001 vs 0.03", rep.ConfigDiff)
	}
	if _, _, code := c.run("compare", "bad"); code != 2 {
		t.Errorf("compare with one run: exit %d, want 2", code)
	}
	out, _, _ := c.run("compare", "base0", "bad")
	if !strings.Contains(out, "+0.05 (+50.0%)") || !strings.Contains(out, "lr: 0.001 | 0.03") {
		t.Errorf("compare text:\n%s", out)
	}
}

func TestLeaderboardRanksByGoal(t *testing.T) {
	c, _ := project(t)
	var lb reports.Leaderboard
	if code := c.json(&lb, "leaderboard", "--metric", "eval/nrmse", "--top", "3"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var ids []string
	var vals []float64
	for _, r := range lb.Rows {
		ids, vals = append(ids, r.RunID), append(vals, r.Value)
	}
	if !reflect.DeepEqual(ids, []string{"base6", "base2", "base4"}) || !reflect.DeepEqual(vals, []float64{0.097, 0.098, 0.099}) {
		t.Errorf("top 3 = %v %v", ids, vals)
	}
	r := lb.Rows[0]
	if lb.Goal != kernels.GoalLower || r.Rank != 1 || r.State != "finished" || r.SyncState != "pending" ||
		r.JobID != nil || r.GPUHours != nil || r.EnergyJ != nil || r.URL != nil {
		t.Errorf("leaderboard = %+v / %+v", lb, r)
	}
	// A goal declared in the logs wins; higher is better for eval/custom.
	if code := c.json(&lb, "leaderboard", "--metric", "eval/custom"); code != 0 || lb.Goal != kernels.GoalHigher || lb.GoalSource != "log" {
		t.Errorf("eval/custom leaderboard = %+v", lb)
	}
	if _, _, code := c.run("leaderboard", "--metric", "eval/psnr"); code != 2 {
		t.Errorf("unknown goal: exit %d, want 2", code)
	}
	if code := c.json(&lb, "leaderboard", "--metric", "eval/psnr", "--goal", "higher", "--project", "other"); code != 0 || len(lb.Rows) != 0 {
		t.Errorf("other project = %+v", lb)
	}
}

func TestPlotDrawsTheLoggedCurves(t *testing.T) {
	c, _ := project(t)
	out := filepath.Join(t.TempDir(), "loss.png")
	var rep reports.PlotReport
	if code := c.json(&rep, "plot", "base0", "bad", "--metric", "train/loss", "-o", out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := []plot.Series{
		{Name: "baseline base0", Steps: []float64{0, 1, 2, 3, 4}, Values: history(5, 0.2)},
		{Name: "bad lr", Steps: []float64{0, 1, 2, 3}, Values: []float64{0.9, 0.7, 0.8, 0.6}}, // string and NaN left out
	}
	if !reflect.DeepEqual(rep.Series, want) {
		t.Errorf("plotted %+v\nwant %+v", rep.Series, want)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", out, err)
	}
	if b := img.Bounds(); b.Dx() != 768 || b.Dy() != 480 {
		t.Errorf("image is %dx%d, want 768x480", b.Dx(), b.Dy())
	}

	svg := filepath.Join(t.TempDir(), "board.svg")
	if code := c.json(&rep, "plot", "--leaderboard", "--metric", "eval/nrmse", "--top", "2", "-o", svg); code != 0 {
		t.Fatalf("leaderboard plot exit %d", code)
	}
	wantBars := []reports.PlotBar{{Label: "baseline base6", RunID: "base6", Value: 0.097}, {Label: "baseline base2", RunID: "base2", Value: 0.098}}
	if !reflect.DeepEqual(rep.Bars, wantBars) {
		t.Errorf("bars = %+v, want %+v", rep.Bars, wantBars)
	}
	b, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("baseline base6")) {
		t.Errorf("%s is not an SVG with the run labels (%v)", svg, err)
	}

	// The default file name comes from the metric, in the working directory.
	wd, _ := os.Getwd()
	tmp := t.TempDir()
	if err := os.Chdir(tmp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	if _, errOut, code := c.run("plot", "bad", "--metric", "train/loss"); code != 0 {
		t.Fatalf("default output: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(tmp, "train_loss.png")); err != nil {
		t.Errorf("default output file: %v", err)
	}
	for _, args := range [][]string{
		{"plot", "bad", "--metric", "train/loss", "-o", "x.jpg"},
		{"plot", "bad"},
		{"plot", "--leaderboard", "bad", "--metric", "eval/nrmse"},
	} {
		if _, _, code := c.run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, _, code := c.run("plot", "bad", "--metric", "eval/none", "-o", filepath.Join(tmp, "none.png")); code != 1 {
		t.Errorf("plot of a metric never logged: exit %d, want 1", code)
	}
}

func TestPipelineStagesMergeIntoOneRun(t *testing.T) {
	root := t.TempDir()
	c := runnerCLI{t: t, db: filepath.Join(t.TempDir(), "ledger.db")}
	// Stage 1 trains; stage 2 (same run id, later) evaluates and overrides a summary key.
	writeRun(t, root, runSpec{id: "pipe", name: "pipeline", project: "pde", start: base0, lr: 1e-3,
		losses: history(3, 0.3), summary: map[string]float64{"eval/nrmse": 0.5, "stage": 1}})
	writeRun(t, root, runSpec{id: "pipe", name: "pipeline", project: "pde", start: base0.Add(time.Hour), lr: 1e-3,
		summary: map[string]float64{"eval/nrmse": 0.11, "stage": 2}})
	if _, errOut, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: %s", errOut)
	}
	var rep reports.MetricsReport
	if code := c.json(&rep, "metrics", "pipe"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var sum map[string]any
	_ = json.Unmarshal(rep.Summary, &sum)
	if len(rep.Dirs) != 2 || sum["eval/nrmse"] != 0.11 || sum["stage"] != 2.0 {
		t.Errorf("pipeline metrics: dirs %v summary %v", rep.Dirs, sum)
	}
	var chk reports.CheckReport
	if code := c.json(&chk, "check", "pipe"); code != 0 || len(chk.Checks) != 1 || chk.Checks[0].Verdict.Value != 0.11 {
		t.Errorf("check of the merged run = %+v (exit %d)", chk, code)
	}
}

func newTestLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// One sign convention: check and compare both print new minus baseline,
// and the goal alone says whether that is better or worse.
func TestCheckAndCompareAgreeOnSigns(t *testing.T) {
	c, _ := project(t)
	out, errOut, code := c.run("check", "bad", "--metric", "eval/nrmse", "--goal-rule", "nrmse=higher")
	if code != 0 || !strings.Contains(out, "(+0.05, +50.0%, z +") || !strings.Contains(out, "better (higher is better)") {
		t.Errorf("check with higher-is-better: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = c.run("check", "bad", "--metric", "eval/nrmse")
	if code != 1 || !strings.Contains(out, "(+0.05, +50.0%, z +") || !strings.Contains(out, "worse (lower is better)") {
		t.Errorf("check with lower-is-better: exit %d\n%s%s", code, out, errOut)
	}
}

// A run with no point of the metric is named on stderr and left out of the
// plot and its count; with no run left, plot fails with one line.
func TestPlotLeavesOutRunsWithoutTheMetric(t *testing.T) {
	root := t.TempDir()
	c := runnerCLI{t: t, db: filepath.Join(t.TempDir(), "ledger.db")}
	writeRun(t, root, runSpec{id: "has", name: "has loss", project: "pde", start: base0, lr: 1e-3, losses: history(3, 0.2)})
	writeRun(t, root, runSpec{id: "none", name: "eval only", project: "pde", start: base0.Add(time.Hour), lr: 1e-3,
		summary: map[string]float64{"eval/nrmse": 0.1}})
	if _, errOut, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: %s", errOut)
	}
	out := filepath.Join(t.TempDir(), "loss.png")
	stdout, stderr, code := c.run("plot", "has", "none", "--metric", "train/loss", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "runner: plot: run none has no point of train/loss; left out\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if want := fmt.Sprintf("wrote %s (train/loss, 1 runs)\n", out); stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	var rep reports.PlotReport
	if code := c.json(&rep, "plot", "has", "none", "--metric", "train/loss", "-o", out); code != 0 ||
		len(rep.Series) != 1 || rep.Series[0].Name != "has loss" || !reflect.DeepEqual(rep.LeftOut, []string{"none"}) {
		t.Errorf("json: exit %d, series %+v, left out %v", code, rep.Series, rep.LeftOut)
	}
	stdout, stderr, code = c.run("plot", "none", "--metric", "train/loss", "-o", out)
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "train/loss") {
		t.Errorf("no run with the metric: exit %d, stdout %q, stderr %q; want exit 1 and one line", code, stdout, stderr)
	}
}

// A loss over five decades is drawn on a log axis without being asked (as
// the HTML report does); --log is --log-y's short name; a curve within one
// decade stays linear.
func TestPlotTakesALogAxisForDecades(t *testing.T) {
	root := t.TempDir()
	c := runnerCLI{t: t, db: filepath.Join(t.TempDir(), "ledger.db")}
	writeRun(t, root, runSpec{id: "wide", name: "wide", project: "pde", start: base0, lr: 1e-3,
		losses: []float64{10, 1, 0.1, 0.01, 0.001, 0.0001}})
	writeRun(t, root, runSpec{id: "flat", name: "flat", project: "pde", start: base0.Add(time.Hour), lr: 1e-3,
		losses: []float64{0.5, 0.4, 0.3}})
	if _, errOut, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		log  bool
	}{
		{[]string{"wide"}, true},
		{[]string{"flat"}, false},
		{[]string{"flat", "--log"}, true},
	} {
		var rep reports.PlotReport
		args := append([]string{"plot", "--metric", "train/loss", "-o", filepath.Join(t.TempDir(), "p.svg")}, tc.args...)
		if code := c.json(&rep, args...); code != 0 {
			t.Fatalf("%v: exit %d", tc.args, code)
		}
		if rep.LogY != tc.log {
			t.Errorf("plot %v: log_y %v, want %v", tc.args, rep.LogY, tc.log)
		}
	}
}
