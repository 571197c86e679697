package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
)

// resolveGroup maps a selector to exactly one W&B run (all its stages).
func resolveGroup(ctx context.Context, db *ledger.DB, cmd, sel string) (runGroup, error) {
	runs, err := db.Resolve(ctx, sel)
	if err != nil {
		return runGroup{}, fmt.Errorf("%s: %w", cmd, err)
	}
	gs := groupRuns(runs)
	if len(gs) > 1 {
		keys := make([]string, len(gs))
		for i, g := range gs {
			keys[i] = g.Key
		}
		return runGroup{}, badRequest("%s: %q matches %d runs (%s): give a run dir", cmd, sel, len(gs), strings.Join(keys, ", "))
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
		metrics = numericKeys(ledger.FlatSummary(g.Summary), []string{DefaultWatchMetric})
		if len(metrics) == 0 {
			return nil, badRequest("check: run %s has no %s summary metric: name one with --metric", g.ID(), DefaultWatchMetric)
		}
		// Not asked for by name: a metric without a known goal is shown, not fatal.
		unknown = unknownShows
	}
	rep, err := checkGroup(ctx, db, g, metrics, o, unknown)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return rep, nil
}

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

// RegressionPasses is `runner regressions`: it calls fn with pass, which
// reads those the daemon recorded that f selects, newest first, one at a
// time, from one snapshot however often fn calls it (ledger.DB.
// RegressionPasses): a table measures its columns in a first pass and
// prints in a second, JSON is written as it is read, and neither holds the
// 40,000 regressions of a lab's history.
func RegressionPasses(ctx context.Context, db *ledger.DB, f ledger.RegressionFilter, fn func(pass func(func(RegressionJSON) error) error) error) error {
	err := db.RegressionPasses(ctx, f, func(pass func(func(ledger.Regression) error) error) error {
		return fn(func(each func(RegressionJSON) error) error {
			return pass(func(g ledger.Regression) error { return each(regressionJSON(g)) })
		})
	})
	if err != nil {
		return fmt.Errorf("regressions: %w", err)
	}
	return nil
}

func regressionJSON(g ledger.Regression) RegressionJSON {
	ids := g.BaselineRunIDs
	if ids == nil {
		ids = []string{}
	}
	return RegressionJSON{ID: g.ID, At: api.Time(g.At), RunID: g.RunID, Name: g.Name,
		Project: g.Project, Dir: g.Dir, Verdict: g.Verdict, BaselineRunIDs: ids}
}

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
		sums[i] = ledger.FlatSummary(g.Summary)
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
