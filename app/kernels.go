package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/plot/vg"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
)

// Plot size: 8 x 5 inches, 768 x 480 pixels in PNG.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
)

// DefaultTop is how many runs `runner leaderboard` shows.
const DefaultTop = 10

func floatFlag(name, usage string, def float64) *cli.Float64Flag {
	return &cli.Float64Flag{Name: name, Usage: usage, Value: def, EnvVars: []string{envName(name)}}
}

// goalFlags decide a metric's goal when the run's log does not.
func goalFlags() []cli.Flag {
	return []cli.Flag{
		listFlag("goal-rule", "SUBSTRING=lower|higher: metrics whose name contains SUBSTRING (repeatable; before the default rules)"),
		stringFlag("goal", "lower or higher: the goal of metrics that neither the log nor a rule decides", ""),
	}
}

// RegressionFlags are the baseline and threshold flags of check, and of the
// daemon's evaluation (with WatchFlag).
func RegressionFlags() []cli.Flag {
	return append(goalFlags(),
		intFlag("baseline", "judge against the last N finished runs of the project that have the metric", kernels.DefaultBaselineN),
		floatFlag("z", "robust z-score a regression must exceed", kernels.DefaultZThreshold),
		floatFlag("rel", "relative change a regression must exceed (0.01 = 1%)", kernels.DefaultRelThreshold),
		intFlag("min-baseline", "fewer baseline runs than this: not enough history, no verdict", kernels.DefaultMinBaseline),
	)
}

// WatchFlag is the daemon's --watch-metric.
func WatchFlag() cli.Flag {
	return listFlag("watch-metric", "summary metric or glob the daemon checks for regressions when a run is ready (repeatable; default "+DefaultWatchMetric+")")
}

func goalOptions(c *cli.Context) (GoalOptions, error) {
	var o GoalOptions
	var extra []kernels.GoalRule
	for _, s := range c.StringSlice("goal-rule") {
		r, err := kernels.ParseGoalRule(s)
		if err != nil {
			return o, usagef("invalid --goal-rule: %v", err)
		}
		extra = append(extra, r)
	}
	o.Rules = kernels.DefaultGoalRules().Prepend(extra...)
	if s := c.String("goal"); s != "" {
		g, err := kernels.ParseGoal(s)
		if err != nil || g == kernels.GoalUnknown {
			return o, usagef("invalid --goal %q: say --goal lower or --goal higher", s)
		}
		o.Fallback = g
	}
	return o, nil
}

// RegressOptionsFrom reads RegressionFlags.
func RegressOptionsFrom(c *cli.Context) (RegressOptions, error) {
	g, err := goalOptions(c)
	if err != nil {
		return RegressOptions{}, err
	}
	o := RegressOptions{Goals: g, BaselineN: c.Int("baseline"), Thresholds: kernels.RegressionOptions{
		MinBaseline: c.Int("min-baseline"), ZThreshold: c.Float64("z"), RelThreshold: c.Float64("rel"),
	}}
	switch {
	case o.BaselineN < 1:
		return o, usagef("invalid --baseline %d: want 1 or more", o.BaselineN)
	case o.Thresholds.MinBaseline < 1:
		return o, usagef("invalid --min-baseline %d: want 1 or more", o.Thresholds.MinBaseline)
	case !(o.Thresholds.ZThreshold > 0) || math.IsInf(o.Thresholds.ZThreshold, 0):
		return o, usagef("invalid --z %v: want a positive number", o.Thresholds.ZThreshold)
	case !(o.Thresholds.RelThreshold > 0) || math.IsInf(o.Thresholds.RelThreshold, 0):
		return o, usagef("invalid --rel %v: want a positive number", o.Thresholds.RelThreshold)
	}
	return o, nil
}

// EvalOptionsFrom reads RegressionFlags and WatchFlag (for the daemon).
func EvalOptionsFrom(c *cli.Context) (EvalOptions, error) {
	o, err := RegressOptionsFrom(c)
	if err != nil {
		return EvalOptions{}, err
	}
	return EvalOptions{RegressOptions: o, Watch: c.StringSlice("watch-metric")}, nil
}

// goalError turns an unknown goal into the usage error the user can act on.
func goalError(cmd string, err error) error {
	if errors.Is(err, ErrGoalUnknown) {
		return usagef("%s: %v: say --goal lower or --goal higher (or --goal-rule SUBSTRING=lower|higher)", cmd, err)
	}
	if errors.Is(err, ErrNoMetric) {
		return usagef("%s: %v", cmd, err)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// kernelAction opens the ledger read-only and runs fn.
func kernelAction(env Env, fn func(c *cli.Context, db *ledger.DB) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
			return fn(c, db)
		})
	}
}

// resolveGroup maps a selector to exactly one W&B run (all its stages).
func resolveGroup(ctx context.Context, db *ledger.DB, cmd, sel string) (runGroup, error) {
	runs, err := db.Resolve(ctx, sel)
	if errors.Is(err, ledger.ErrNotFound) {
		return runGroup{}, fmt.Errorf("%s %s: no such run in the ledger", cmd, sel)
	}
	if err != nil {
		return runGroup{}, fmt.Errorf("%s %s: %w", cmd, sel, err)
	}
	gs := groupRuns(runs)
	if len(gs) > 1 {
		keys := make([]string, len(gs))
		for i, g := range gs {
			keys[i] = g.Key
		}
		return runGroup{}, usagef("%s: %q matches %d runs (%s): give a run dir", cmd, sel, len(gs), strings.Join(keys, ", "))
	}
	g, err := loadGroup(ctx, db, gs[0].Runs[0])
	if err != nil {
		return runGroup{}, fmt.Errorf("%s %s: %w", cmd, sel, err)
	}
	return g, nil
}

// jsonSafe makes decoded summary and config values marshalable: non-finite
// floats become "NaN", "Infinity" and "-Infinity" (as W&B writes them).
func jsonSafe(v any) json.RawMessage {
	b, err := wandbfile.MarshalValue(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func fmtNum(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// ---- metrics ----

// StageMetric is one history summary of one run dir (stage).
type StageMetric struct {
	Dir string `json:"dir"`
	ledger.MetricSummary
}

// MetricsReport is `runner metrics --json`.
type MetricsReport struct {
	RunID   string          `json:"run_id"`
	Name    string          `json:"name"`
	Project string          `json:"project"`
	Dirs    []string        `json:"dirs"`
	Summary json.RawMessage `json:"summary"` // final W&B summary, stages merged in order
	Metrics []StageMetric   `json:"metrics"`
}

func metricsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "metrics",
		Usage:     "history summaries (count, last, min, max, mean, std, best step, EMA, slope) and final summary of a run",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
				return err
			}
			if c.Args().Len() > 1 {
				return usagef("metrics: takes one RUN, got %d", c.Args().Len())
			}
			rep, err := Metrics(c.Context, db, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, rep)
			}
			printMetrics(env.Stdout, rep)
			return nil
		}),
	}
}

// Metrics answers `runner metrics RUN` from the ledger (no log is read).
func Metrics(ctx context.Context, db *ledger.DB, sel string) (*MetricsReport, error) {
	g, err := resolveGroup(ctx, db, "metrics", sel)
	if err != nil {
		return nil, err
	}
	per, err := db.RunMetrics(ctx, g.Dirs())
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", sel, err)
	}
	rep := &MetricsReport{RunID: g.ID(), Name: g.Name(), Project: g.Runs[0].Project, Dirs: g.Dirs(),
		Summary: jsonSafe(g.Summary), Metrics: []StageMetric{}}
	for _, d := range rep.Dirs {
		for _, m := range per[d] {
			rep.Metrics = append(rep.Metrics, StageMetric{Dir: d, MetricSummary: m})
		}
	}
	return rep, nil
}

func printMetrics(w io.Writer, rep *MetricsReport) {
	fmt.Fprintf(w, "run %s (%s) in project %s\n", rep.RunID, dash(rep.Name), dash(rep.Project))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tGOAL\tCOUNT\tLAST\tMIN\tMAX\tMEAN\tSTD\tBEST STEP\tEMA\tSLOPE\tSKIPPED")
	multi := len(rep.Dirs) > 1
	lastDir := ""
	for _, m := range rep.Metrics {
		if multi && m.Dir != lastDir {
			fmt.Fprintf(tw, "[%s]\n", filepath.Base(m.Dir))
			lastDir = m.Dir
		}
		best := "-"
		if m.BestStep != nil {
			best = strconv.FormatInt(*m.BestStep, 10)
		}
		skipped := "-"
		if m.NonNumeric+m.NonFinite > 0 {
			skipped = fmt.Sprintf("%d non-numeric, %d NaN/Inf", m.NonNumeric, m.NonFinite)
		}
		if m.Count == 0 {
			fmt.Fprintf(tw, "%s\t%s\t0\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", m.Key, goalText(m), skipped)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Key, goalText(m), m.Count,
			fmtF(m.Last), fmtF(m.Min), fmtF(m.Max), fmtF(m.Mean), fmtF(m.Std), best, fmtF(m.EMA), fmtNum(m.Slope), skipped)
	}
	tw.Flush()
	var sum map[string]any
	if json.Unmarshal(rep.Summary, &sum) == nil && len(sum) > 0 {
		fmt.Fprintln(w, "summary:")
		keys := make([]string, 0, len(sum))
		for k := range sum {
			if !strings.HasPrefix(k, "_") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := json.Marshal(sum[k])
			s := string(b)
			if len(s) > 80 {
				s = s[:77] + "..."
			}
			fmt.Fprintf(w, "  %s = %s\n", k, s)
		}
	}
}

func goalText(m StageMetric) string {
	if m.GoalSource == "" {
		return m.Goal.String()
	}
	return m.Goal.String() + " (" + m.GoalSource + ")"
}

// ---- check ----

func checkCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "is this run worse than usual? exit 1 when a regression is flagged, 0 otherwise",
		ArgsUsage: "RUN",
		Flags: append([]cli.Flag{
			listFlag("metric", "summary metric to check (repeatable; default every "+DefaultWatchMetric+" metric)"),
			boolFlag("json", "print one JSON object"),
		}, RegressionFlags()...),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
				return err
			}
			if c.Args().Len() > 1 {
				return usagef("check: takes one RUN, got %d", c.Args().Len())
			}
			o, err := RegressOptionsFrom(c)
			if err != nil {
				return err
			}
			rep, err := CheckRun(c.Context, db, c.Args().First(), c.StringSlice("metric"), o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := writeJSON(env.Stdout, rep); err != nil {
					return err
				}
			} else {
				printCheck(env.Stdout, rep)
			}
			if rep.Regressions > 0 {
				return ErrFailed
			}
			return nil
		}),
	}
}

// CheckRun judges the run sel names on metrics (default: its eval/* summary
// metrics) against its baseline. It records nothing. A metric named in
// metrics whose goal is unknown is a usage error; one picked by default is
// reported without a direction (never a regression).
func CheckRun(ctx context.Context, db *ledger.DB, sel string, metrics []string, o RegressOptions) (*CheckReport, error) {
	g, err := resolveGroup(ctx, db, "check", sel)
	if err != nil {
		return nil, err
	}
	unknown := unknownFails
	if len(metrics) == 0 {
		metrics = numericKeys(flatSummary(g.Summary), []string{DefaultWatchMetric})
		if len(metrics) == 0 {
			return nil, usagef("check: run %s has no %s summary metric: name one with --metric", g.ID(), DefaultWatchMetric)
		}
		// Not asked for by name: a metric without a known goal is shown, not fatal.
		unknown = unknownShows
	}
	rep, err := checkGroup(ctx, db, g, metrics, o, unknown)
	if err != nil {
		return nil, goalError("check", err)
	}
	return rep, nil
}

func printCheck(w io.Writer, rep *CheckReport) {
	fmt.Fprintf(w, "run %s (%s) in project %s\n", rep.RunID, dash(rep.Name), dash(rep.Project))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Checks {
		kind := strings.ToUpper(strings.ReplaceAll(string(c.Verdict.Kind), "_", " "))
		if c.Verdict.Kind == kernels.VerdictOK {
			kind = "ok"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Verdict.Metric, kind, c.Verdict.Reason)
	}
	tw.Flush()
	if rep.Regressions > 0 {
		fmt.Fprintf(w, "%d regression(s) flagged\n", rep.Regressions)
	} else {
		fmt.Fprintln(w, "no regression flagged")
	}
}

// ---- regressions ----

// RegressionJSON is one element of `runner regressions --json`.
type RegressionJSON struct {
	ID             int64           `json:"id"`
	At             string          `json:"at"`
	RunID          string          `json:"run_id"`
	Name           string          `json:"name"`
	Project        string          `json:"project"`
	Dir            string          `json:"dir"`
	Verdict        kernels.Verdict `json:"verdict"`
	BaselineRunIDs []string        `json:"baseline_run_ids"`
}

func regressionsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "regressions",
		Usage: "regressions the daemon flagged when runs became ready",
		Flags: []cli.Flag{
			stringFlag("metric", "only this metric", ""),
			durationFlag("since", "only those flagged within this long (0: all)", 0),
			boolFlag("json", "print a JSON array"),
		},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			f := ledger.RegressionFilter{Metric: c.String("metric")}
			if d := durationOf(c, "since"); d > 0 {
				f.Since = env.Now().Add(-d)
			}
			regs, err := db.Regressions(c.Context, f)
			if err != nil {
				return fmt.Errorf("regressions: %w", err)
			}
			out := make([]RegressionJSON, 0, len(regs))
			for _, g := range regs {
				ids := g.BaselineRunIDs
				if ids == nil {
					ids = []string{}
				}
				out = append(out, RegressionJSON{ID: g.ID, At: rfc3339(g.At), RunID: g.RunID, Name: g.Name,
					Project: g.Project, Dir: g.Dir, Verdict: g.Verdict, BaselineRunIDs: ids})
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(env.Stdout, "no regressions recorded")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tRUN ID\tNAME\tMETRIC\tVALUE\tMEDIAN\tCHANGE\tZ")
			for _, r := range out {
				v := r.Verdict
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%+.1f%%\t%+.2f\n", r.At, dash(r.RunID), dash(r.Name), v.Metric,
					fmtF(v.Value), fmtF(v.Median), 100*v.RelChange, v.Z)
			}
			return tw.Flush()
		}),
	}
}

// ---- compare ----

// RunRef names one run in a report.
type RunRef struct {
	RunID   string   `json:"run_id"`
	Name    string   `json:"name"`
	Project string   `json:"project"`
	Dirs    []string `json:"dirs"`
}

func refOf(g runGroup) RunRef {
	return RunRef{RunID: g.ID(), Name: g.Name(), Project: g.Runs[0].Project, Dirs: g.Dirs()}
}

// HistoryRow is one history key across the compared runs (null where a run
// did not log it).
type HistoryRow struct {
	Metric string                  `json:"metric"`
	Runs   []*ledger.MetricSummary `json:"runs"`
}

// CompareReport is `runner compare --json`.
type CompareReport struct {
	Runs       []RunRef                     `json:"runs"`
	Summary    []kernels.CompareRow         `json:"summary"` // diff and rel against the first run
	History    []HistoryRow                 `json:"history"`
	ConfigDiff map[string][]json.RawMessage `json:"config_diff"` // key -> value per run (null where absent)
}

func compareCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "side by side summaries, history summaries and config differences of runs (against the first)",
		ArgsUsage: "RUN RUN...",
		Flags: []cli.Flag{
			listFlag("metric", "only this metric (repeatable; default all numeric ones)"),
			boolFlag("json", "print one JSON object"),
		},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if c.Args().Len() < 2 {
				return usagef("compare: give two or more RUNs")
			}
			rep, err := Compare(c.Context, db, c.Args().Slice(), c.StringSlice("metric"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, rep)
			}
			printCompare(env.Stdout, rep)
			return nil
		}),
	}
}

// Compare lines up runs on their summaries, history summaries and config.
func Compare(ctx context.Context, db *ledger.DB, sels []string, metrics []string) (*CompareReport, error) {
	groups := make([]runGroup, 0, len(sels))
	for _, s := range sels {
		g, err := resolveGroup(ctx, db, "compare", s)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	rep := &CompareReport{Runs: []RunRef{}, History: []HistoryRow{}, ConfigDiff: map[string][]json.RawMessage{}}
	sums := make([]map[string]any, len(groups))
	configs := make([]map[string]any, len(groups))
	hist := make([]map[string]*ledger.MetricSummary, len(groups))
	keys := map[string]bool{}
	for i, g := range groups {
		rep.Runs = append(rep.Runs, refOf(g))
		sums[i] = flatSummary(g.Summary)
		configs[i] = mergeConfigs(g.Runs)
		per, err := db.RunMetrics(ctx, g.Dirs())
		if err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		// The last stage that logged a key speaks for the run.
		hist[i] = map[string]*ledger.MetricSummary{}
		for _, d := range g.Dirs() {
			for _, m := range per[d] {
				if m.Count == 0 {
					continue // declared in a metric record but never logged to history
				}
				hist[i][m.Key] = &m
				keys[m.Key] = true
			}
		}
	}
	rep.Summary = kernels.CompareSummaries(sums, metrics)
	hkeys := metrics
	if len(hkeys) == 0 {
		for k := range keys {
			hkeys = append(hkeys, k)
		}
		sort.Strings(hkeys)
	}
	for _, k := range hkeys {
		row := HistoryRow{Metric: k, Runs: make([]*ledger.MetricSummary, len(groups))}
		found := false
		for i := range groups {
			row.Runs[i] = hist[i][k]
			found = found || row.Runs[i] != nil
		}
		if found {
			rep.History = append(rep.History, row)
		}
	}
	for k, vals := range kernels.ConfigDiff(configs) {
		raw := make([]json.RawMessage, len(vals))
		for i, v := range vals {
			raw[i] = jsonSafe(v)
		}
		rep.ConfigDiff[k] = raw
	}
	return rep, nil
}

// mergeConfigs merges the stages' configs in stage order, later keys winning.
func mergeConfigs(runs []ledger.Run) map[string]any {
	out := map[string]any{}
	for _, r := range runs {
		v, err := wandbfile.ParseValue([]byte(r.ConfigJSON))
		if err != nil {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				out[k] = x
			}
		}
	}
	return out
}

func printCompare(w io.Writer, rep *CompareReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "SUMMARY"
	for i, r := range rep.Runs {
		label := r.RunID
		if r.Name != "" {
			label += " (" + r.Name + ")"
		}
		head += "\t" + label
		if i > 0 {
			head += "\tCHANGE"
		}
	}
	fmt.Fprintln(tw, head)
	for _, row := range rep.Summary {
		line := row.Metric
		for i := range rep.Runs {
			line += "\t" + fmtNum(row.Values[i])
			if i > 0 {
				line += "\t" + fmtChange(row.Diff[i], row.Rel[i])
			}
		}
		fmt.Fprintln(tw, line)
	}
	if len(rep.History) > 0 {
		fmt.Fprintln(tw, "HISTORY (last / min / max)")
		for _, row := range rep.History {
			line := row.Metric
			for i, m := range row.Runs {
				if m == nil || m.Count == 0 {
					line += "\t-"
				} else {
					line += fmt.Sprintf("\t%s / %s / %s", fmtF(m.Last), fmtF(m.Min), fmtF(m.Max))
				}
				if i > 0 {
					line += "\t"
				}
			}
			fmt.Fprintln(tw, line)
		}
	}
	tw.Flush()
	if len(rep.ConfigDiff) == 0 {
		fmt.Fprintln(w, "config: identical")
		return
	}
	fmt.Fprintln(w, "config differences:")
	keys := make([]string, 0, len(rep.ConfigDiff))
	for k := range rep.ConfigDiff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := make([]string, len(rep.ConfigDiff[k]))
		for i, v := range rep.ConfigDiff[k] {
			vals[i] = string(v)
		}
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(vals, " | "))
	}
}

func fmtChange(d, rel *float64) string {
	if d == nil {
		return "-"
	}
	s := strconv.FormatFloat(*d, 'g', 4, 64)
	if *d >= 0 {
		s = "+" + s
	}
	if rel != nil {
		s += fmt.Sprintf(" (%+.1f%%)", 100**rel)
	}
	return s
}

// ---- leaderboard ----

// LeaderboardRow is one element of Leaderboard.Rows.
type LeaderboardRow struct {
	Rank      int      `json:"rank"`
	RunID     string   `json:"run_id"`
	Name      string   `json:"name"`
	Project   string   `json:"project"`
	Group     string   `json:"group"`
	Value     float64  `json:"value"`
	JobID     *int64   `json:"job_id"`
	GPUHours  *float64 `json:"gpu_hours"` // null without job telemetry
	EnergyJ   *float64 `json:"energy_j"`  // null without job telemetry
	State     string   `json:"state"`     // running, finished, crashed (exit code != 0) or killed (no exit record)
	SyncState string   `json:"sync_state"`
	URL       *string  `json:"url"`
	Dirs      []string `json:"dirs"`
}

// Leaderboard is `runner leaderboard --json`.
type Leaderboard struct {
	Metric     string           `json:"metric"`
	Goal       kernels.Goal     `json:"goal"`
	GoalSource string           `json:"goal_source"`
	Rows       []LeaderboardRow `json:"rows"`
}

// LeaderboardOptions select and order the runs.
type LeaderboardOptions struct {
	Metric  string
	Project string
	Group   string
	Top     int // <= 0: all
	Goals   GoalOptions
}

func leaderboardFlags() []cli.Flag {
	return append([]cli.Flag{
		stringFlag("metric", "summary metric to rank by (required)", ""),
		stringFlag("project", "only runs of this W&B project", ""),
		stringFlag("group", "only runs of this W&B group", ""),
		intFlag("top", "show the best N runs (0: all)", DefaultTop),
	}, goalFlags()...)
}

func leaderboardOptions(c *cli.Context) (LeaderboardOptions, error) {
	g, err := goalOptions(c)
	if err != nil {
		return LeaderboardOptions{}, err
	}
	o := LeaderboardOptions{Metric: c.String("metric"), Project: c.String("project"), Group: c.String("group"),
		Top: c.Int("top"), Goals: g}
	if o.Metric == "" {
		return o, usagef("%s: --metric is required", c.Command.Name)
	}
	if o.Top < 0 {
		return o, usagef("invalid --top %d: want 0 or more", o.Top)
	}
	return o, nil
}

func leaderboardCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "leaderboard",
		Usage: "best runs by a summary metric, with job, GPU hours, energy, state and URL",
		Flags: append(leaderboardFlags(), boolFlag("json", "print one JSON object")),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			o, err := leaderboardOptions(c)
			if err != nil {
				return err
			}
			lb, err := GetLeaderboard(c.Context, db, o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, lb)
			}
			printLeaderboard(env.Stdout, lb)
			return nil
		}),
	}
}

// GetLeaderboard ranks every run with a finite summary value for the metric.
func GetLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions) (*Leaderboard, error) {
	runs, err := db.ListRuns(ctx, ledger.Filter{Project: o.Project})
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	lb := &Leaderboard{Metric: o.Metric, Rows: []LeaderboardRow{}}
	values := map[string]float64{}
	byKey := map[string]runGroup{}
	var dirs []string
	for _, g := range groupRuns(runs) {
		if o.Group != "" && g.Runs[0].Group != o.Group {
			continue
		}
		v, ok := summaryNumber(flatSummary(g.Summary), o.Metric)
		if !ok || !finite(v) {
			continue
		}
		values[g.Key] = v
		byKey[g.Key] = g
		dirs = append(dirs, g.Dirs()...)
	}
	if len(values) == 0 {
		return lb, nil
	}
	goal, src, err := resolveGoal(ctx, db, o.Metric, dirs, o.Goals)
	if err != nil {
		return nil, goalError("leaderboard", err)
	}
	lb.Goal, lb.GoalSource = goal, src
	order := kernels.Rank(values, goal)
	if o.Top > 0 && len(order) > o.Top {
		order = order[:o.Top]
	}
	var jobIDs []int64
	for _, k := range order {
		for _, r := range byKey[k].Runs {
			if r.JobID != nil {
				jobIDs = append(jobIDs, *r.JobID)
			}
		}
	}
	tele, err := db.JobTelemetry(ctx, jobIDs)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	for i, k := range order {
		g := byKey[k]
		row := LeaderboardRow{Rank: i + 1, RunID: g.ID(), Name: g.Name(), Project: g.Runs[0].Project,
			Group: g.Runs[0].Group, Value: values[k], State: runState(g), SyncState: string(syncState(g)), Dirs: g.Dirs()}
		seen := map[int64]bool{}
		for _, r := range g.Runs {
			if r.URL != "" && row.URL == nil {
				u := r.URL
				row.URL = &u
			}
			if r.JobID == nil || seen[*r.JobID] {
				continue
			}
			seen[*r.JobID] = true
			if row.JobID == nil {
				id := *r.JobID
				row.JobID = &id
			}
			t, ok := tele[*r.JobID]
			if !ok {
				continue
			}
			row.GPUHours = addPtr(row.GPUHours, t.GPUHours)
			row.EnergyJ = addPtr(row.EnergyJ, t.EnergyJ)
		}
		lb.Rows = append(lb.Rows, row)
	}
	return lb, nil
}

func addPtr(acc, x *float64) *float64 {
	if x == nil {
		return acc
	}
	v := *x
	if acc != nil {
		v += *acc
	}
	return &v
}

// runState is how the run itself ended, as opposed to its sync state.
func runState(g runGroup) string {
	last := g.Runs[len(g.Runs)-1]
	for _, r := range g.Runs {
		if r.State == ledger.StateActive && !r.Finished && !r.Footer {
			return "running"
		}
		if r.ExitCode != nil && *r.ExitCode != 0 {
			return "crashed"
		}
	}
	if !last.Finished && !last.Footer {
		return "killed"
	}
	return "finished"
}

// syncState is the group's least advanced sync state (synced only when all are).
func syncState(g runGroup) ledger.State {
	for _, s := range ledger.AllStates {
		if s == ledger.StateSynced {
			continue
		}
		for _, r := range g.Runs {
			if r.State == s {
				return s
			}
		}
	}
	return ledger.StateSynced
}

func printLeaderboard(w io.Writer, lb *Leaderboard) {
	if len(lb.Rows) == 0 {
		fmt.Fprintf(w, "no run has a numeric summary value for %s\n", lb.Metric)
		return
	}
	fmt.Fprintf(w, "%s (%s is better, from %s)\n", lb.Metric, lb.Goal, lb.GoalSource)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tRUN ID\tNAME\tVALUE\tJOB\tGPU H\tENERGY KJ\tSTATE\tSYNC\tURL")
	for _, r := range lb.Rows {
		job := "-"
		if r.JobID != nil {
			job = strconv.FormatInt(*r.JobID, 10)
		}
		energy := "-"
		if r.EnergyJ != nil {
			energy = fmtF(*r.EnergyJ / 1000)
		}
		url := "-"
		if r.URL != nil {
			url = *r.URL
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Rank, r.RunID, dash(r.Name), fmtF(r.Value),
			job, fmtNum(r.GPUHours), energy, r.State, r.SyncState, url)
	}
	tw.Flush()
}

// ---- plot ----

// PlotReport is `runner plot --json`: what was drawn, point by point.
type PlotReport struct {
	File   string           `json:"file"`
	Format string           `json:"format"`
	Metric string           `json:"metric"`
	Series []kernels.Series `json:"series"` // line plot: one per run (name = run name)
	Bars   []PlotBar        `json:"bars"`   // --leaderboard: one per run, best first
}

// PlotBar is one bar of a leaderboard plot.
type PlotBar struct {
	Label string  `json:"label"`
	RunID string  `json:"run_id"`
	Value float64 `json:"value"`
}

func plotCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "plot",
		Usage:     "draw a metric against step for runs (PNG or SVG), or the leaderboard as bars",
		ArgsUsage: "RUN...",
		Flags: append(leaderboardFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "FILE.png or FILE.svg (default <metric with / as _>.png, <metric>_leaderboard.png for --leaderboard)", EnvVars: []string{envName("output")}},
			boolFlag("leaderboard", "draw the leaderboard of --metric as a bar chart"),
			boolFlag("json", "print what was drawn as one JSON object"),
		),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			metric := c.String("metric")
			if metric == "" {
				return usagef("plot: --metric is required")
			}
			out := c.String("output")
			base := strings.ReplaceAll(metric, "/", "_")
			if c.Bool("leaderboard") {
				base += "_leaderboard"
			}
			if out == "" {
				out = base + ".png"
			}
			format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
			if format != "png" && format != "svg" {
				return usagef("plot: output %s: want a .png or .svg file", out)
			}
			var rep *PlotReport
			var err error
			if c.Bool("leaderboard") {
				if c.Args().Len() > 0 {
					return usagef("plot: --leaderboard takes no RUN")
				}
				o, err := leaderboardOptions(c)
				if err != nil {
					return err
				}
				rep, err = PlotLeaderboard(c.Context, db, o, out, format)
				if err != nil {
					return err
				}
			} else {
				if err := needArgs(c, 1, "RUN (a run id or run dir; or --leaderboard)"); err != nil {
					return err
				}
				rep, err = PlotRuns(c.Context, db, c.Args().Slice(), metric, out, format)
				if err != nil {
					return err
				}
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, rep)
			}
			n := len(rep.Series) + len(rep.Bars)
			fmt.Fprintf(env.Stdout, "wrote %s (%s, %d %s)\n", rep.File, metric, n, map[bool]string{true: "bars", false: "runs"}[rep.Bars != nil])
			return nil
		}),
	}
}

// PlotRuns re-reads the runs' logs (every stage, in order) and draws metric
// against step, one line per run, to file.
func PlotRuns(ctx context.Context, db *ledger.DB, sels []string, metric, file, format string) (*PlotReport, error) {
	rep := &PlotReport{File: file, Format: format, Metric: metric, Series: []kernels.Series{}}
	names := map[string]int{}
	for _, sel := range sels {
		g, err := resolveGroup(ctx, db, "plot", sel)
		if err != nil {
			return nil, err
		}
		s := kernels.Series{Name: g.Name(), Steps: []float64{}, Values: []float64{}}
		if s.Name == "" {
			s.Name = g.ID()
		}
		for _, r := range g.Runs {
			col := kernels.NewSeriesCollector(kernels.DefaultMaxPoints, metric)
			if _, err := wandbfile.ReadFile(r.LogPath, wandbfile.Options{History: col.Add}); err != nil {
				return nil, fmt.Errorf("plot %s: read %s: %w", sel, r.LogPath, err)
			}
			part := col.Series(metric)
			s.Steps = append(s.Steps, part.Steps...)
			s.Values = append(s.Values, part.Values...)
		}
		if names[s.Name]++; names[s.Name] > 1 {
			s.Name += " (" + g.ID() + ")"
		}
		rep.Series = append(rep.Series, s)
	}
	var buf bytes.Buffer
	if err := kernels.PlotSeries(&buf, format, metric, rep.Series, plotWidth, plotHeight); err != nil {
		if errors.Is(err, kernels.ErrNoData) {
			return nil, fmt.Errorf("plot: none of the runs logged a finite %s to history", metric)
		}
		return nil, fmt.Errorf("plot: %w", err)
	}
	if err := writeFileAtomic(file, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return rep, nil
}

// PlotLeaderboard draws the leaderboard of o.Metric as bars, best first.
func PlotLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions, file, format string) (*PlotReport, error) {
	lb, err := GetLeaderboard(ctx, db, o)
	if err != nil {
		return nil, err
	}
	if len(lb.Rows) == 0 {
		return nil, fmt.Errorf("plot: no run has a numeric summary value for %s", o.Metric)
	}
	rep := &PlotReport{File: file, Format: format, Metric: o.Metric, Bars: []PlotBar{}}
	labels := make([]string, len(lb.Rows))
	values := make([]float64, len(lb.Rows))
	for i, r := range lb.Rows {
		labels[i] = r.Name
		if labels[i] == "" {
			labels[i] = r.RunID
		}
		values[i] = r.Value
		rep.Bars = append(rep.Bars, PlotBar{Label: labels[i], RunID: r.RunID, Value: r.Value})
	}
	title := fmt.Sprintf("%s (%s is better)", o.Metric, lb.Goal)
	var buf bytes.Buffer
	if err := kernels.PlotBars(&buf, format, title, labels, values, plotWidth, plotHeight); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	if err := writeFileAtomic(file, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return rep, nil
}

// writeFileAtomic writes through a temporary file so a reader never sees half an image.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
