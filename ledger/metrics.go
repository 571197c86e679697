package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/jsonlist"
	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/wandbfile"
)

// Where a stored metric's goal came from.
const (
	GoalFromLog  = "log"  // a metric record (run.define_metric with a goal) in the run's log
	GoalFromRule = "rule" // the default name rules when the run was read
)

// MetricSummary is one history key's summary as the ledger stores it. A key
// that the log declares a goal for but never logs to history (a summary-only
// eval metric) is stored with Count 0, so its declared goal is not lost.
type MetricSummary struct {
	kernels.MetricSummary
	GoalSource null.String `json:"goal_source"` // GoalFromLog, GoalFromRule, or "" (null) when the goal is unknown
}

// StoredMetrics turns a run's history summaries into what the ledger stores:
// each key's goal source is GoalFromLog when declared (the log's metric
// records, already converted to goals) names it, else GoalFromRule when the
// summariser's rules knew it. Declared keys absent from history are added
// with Count 0. Sorted by key.
func StoredMetrics(sums []kernels.MetricSummary, declared map[string]kernels.Goal) []MetricSummary {
	out := make([]MetricSummary, 0, len(sums)+len(declared))
	seen := make(map[string]bool, len(sums))
	for _, s := range sums {
		seen[s.Key] = true
		m := MetricSummary{MetricSummary: s}
		switch g, ok := declared[s.Key]; {
		case ok && g != kernels.GoalUnknown:
			m.Goal, m.GoalSource = g, GoalFromLog
		case s.Goal != kernels.GoalUnknown:
			m.GoalSource = GoalFromRule
		}
		out = append(out, m)
	}
	for key, g := range declared {
		if !seen[key] && g != kernels.GoalUnknown {
			out = append(out, MetricSummary{MetricSummary: kernels.MetricSummary{Key: key, Goal: g}, GoalSource: GoalFromLog})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// replaceMetrics swaps the stored summaries of dir for ms inside tx.
func replaceMetrics(ctx context.Context, tx *Tx, dir string, ms []MetricSummary) error {
	// Rows are updated in place, and only the keys the log no longer has
	// are deleted: a growing run's metrics are rewritten on each slot of
	// its growth, and a delete and insert of every row cost twice the
	// index work of an update (docs/design.md "Observing active runs").
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	list, arg := inList(keys)
	if _, err := tx.ExecContext(ctx, `DELETE FROM metrics WHERE dir = ? AND key NOT IN (`+list+`)`, dir, arg); err != nil {
		return fmt.Errorf("ledger: replace metrics of %s: %w", dir, err)
	}
	return insertMetrics(ctx, tx, dir, ms)
}

// insertMetrics stores the summaries of a dir, over its rows of the same keys.
func insertMetrics(ctx context.Context, tx *Tx, dir string, ms []MetricSummary) error {
	if len(ms) == 0 {
		return nil
	}
	ins, err := tx.stmt(ctx, `INSERT INTO metrics (dir, key, goal, goal_source, count,
		non_numeric, non_finite, last, min, max, mean, std, best_step, ema, slope, first_step, last_step)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (dir, key) DO UPDATE SET goal = excluded.goal, goal_source = excluded.goal_source,
		count = excluded.count, non_numeric = excluded.non_numeric, non_finite = excluded.non_finite,
		last = excluded.last, min = excluded.min, max = excluded.max, mean = excluded.mean, std = excluded.std,
		best_step = excluded.best_step, ema = excluded.ema, slope = excluded.slope,
		first_step = excluded.first_step, last_step = excluded.last_step`)
	if err != nil {
		return fmt.Errorf("ledger: replace metrics of %s: %w", dir, err)
	}
	for _, m := range ms {
		var stats [6]any // last, min, max, mean, std, ema: NULL when nothing finite was seen
		var first, last any
		if m.Count > 0 {
			stats = [6]any{m.Last, m.Min, m.Max, m.Mean, m.Std, m.EMA}
			first, last = m.FirstStep, m.LastStep
		}
		var best, slope any
		if m.BestStep != nil {
			best = *m.BestStep
		}
		if m.Slope != nil && !math.IsNaN(*m.Slope) && !math.IsInf(*m.Slope, 0) {
			slope = *m.Slope
		}
		if _, err := ins.ExecContext(ctx, dir, m.Key, m.Goal.String(), m.GoalSource, m.Count, m.NonNumeric,
			m.NonFinite, stats[0], stats[1], stats[2], stats[3], stats[4], best, stats[5], slope, first, last); err != nil {
			return fmt.Errorf("ledger: store metric %s of %s: %w", m.Key, dir, err)
		}
	}
	return nil
}

// RunMetrics returns the stored history summaries of each of dirs, sorted by
// key, keyed by dir (a dir without summaries has no entry).
func (db *DB) RunMetrics(ctx context.Context, dirs []string) (map[string][]MetricSummary, error) {
	out := make(map[string][]MetricSummary)
	if len(dirs) == 0 {
		return out, nil
	}
	list, arg := inList(dirs)
	rows, err := db.query(ctx, `SELECT dir, key, goal, goal_source, count, non_numeric, non_finite,
		last, min, max, mean, std, best_step, ema, slope, first_step, last_step
		FROM metrics WHERE dir IN (`+list+`) ORDER BY dir, key`, arg)
	if err != nil {
		return nil, fmt.Errorf("ledger: run metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dir, goal                        string
			m                                MetricSummary
			last, lo, hi, mean, std, ema, sl sql.NullFloat64
			best, first, lastStep            sql.NullInt64
		)
		if err := rows.Scan(&dir, &m.Key, &goal, &m.GoalSource, &m.Count, &m.NonNumeric, &m.NonFinite,
			&last, &lo, &hi, &mean, &std, &best, &ema, &sl, &first, &lastStep); err != nil {
			return nil, fmt.Errorf("ledger: run metrics: %w", err)
		}
		m.Goal, _ = kernels.ParseGoal(goal) // the CHECK constraint admits only valid goals
		m.Last, m.Min, m.Max, m.Mean, m.Std, m.EMA = last.Float64, lo.Float64, hi.Float64, mean.Float64, std.Float64, ema.Float64
		m.FirstStep, m.LastStep = first.Int64, lastStep.Int64
		if best.Valid {
			v := best.Int64
			m.BestStep = &v
		}
		if sl.Valid {
			v := sl.Float64
			m.Slope = &v
		}
		out[dir] = append(out[dir], m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: run metrics: %w", err)
	}
	return out, nil
}

// DeclaredGoal returns the goal a run log declared for metric with a metric
// record, looking only at dirs (every run when dirs is empty). It returns
// GoalUnknown when no log declares one; when logs disagree, the most
// recently read run wins.
func (db *DB) DeclaredGoal(ctx context.Context, metric string, dirs []string) (kernels.Goal, error) {
	q := `SELECT m.goal FROM metrics m JOIN runs r ON r.dir = m.dir
		WHERE m.key = ? AND m.goal_source = 'log'`
	args := []any{metric}
	if len(dirs) > 0 {
		list, arg := inList(dirs)
		q += ` AND m.dir IN (` + list + `)`
		args = append(args, arg)
	}
	q += ` ORDER BY r.updated_at DESC, r.dir DESC LIMIT 1`
	var goal string
	err := db.queryRow(ctx, q, args...).Scan(&goal)
	if err == sql.ErrNoRows {
		return kernels.GoalUnknown, nil
	}
	if err != nil {
		return kernels.GoalUnknown, fmt.Errorf("ledger: declared goal of %s: %w", metric, err)
	}
	g, _ := kernels.ParseGoal(goal)
	return g, nil
}

// Regression is one flagged regression: a run's metric worse than its
// baseline beyond the thresholds.
type Regression struct {
	ID             int64
	At             time.Time
	Dir            string
	RunID          string
	Project        string
	Name           string // run name, the runs table's (migration 21)
	Verdict        kernels.Verdict
	BaselineRunIDs []string // newest first
}

// RecordRegressions stores the outcome of evaluating the run of dir: rows of
// earlier evaluations of the same run (any dir of its upload group) for the
// evaluated metrics are replaced by flagged, and each flagged regression is
// logged as a "regression" event. One transaction.
func (db *DB) RecordRegressions(ctx context.Context, dir string, evaluated []string, flagged []Regression) error {
	return db.inTx(ctx, func(tx *Tx) error {
		now := db.now()
		if len(evaluated) > 0 {
			list, arg := inList(evaluated)
			args := []any{arg, dir}
			if _, err := tx.ExecContext(ctx, `DELETE FROM regressions WHERE metric IN (`+list+`)
				AND dir IN (SELECT dir FROM runs WHERE group_key = (SELECT group_key FROM runs WHERE dir = ?))`, args...); err != nil {
				return fmt.Errorf("ledger: record regressions of %s: %w", dir, err)
			}
		}
		for _, g := range flagged {
			at := g.At
			if at.IsZero() {
				at = now
			}
			v := g.Verdict
			_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO regressions (at, dir, run_id, project, metric, goal,
				value, baseline_n, median, mad, z, rel_change, baseline_run_ids, reason)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				ms(at), dir, g.RunID, g.Project, v.Metric, v.Goal.String(), realOrNull(v.Value), v.BaselineN,
				realOrNull(v.Median), realOrNull(v.MAD), realOrNull(v.Z), realOrNull(v.RelDelta),
				jsonlist.Encode(g.BaselineRunIDs), v.Reason)
			if err != nil {
				return fmt.Errorf("ledger: record regression %s of %s: %w", v.Metric, dir, err)
			}
			if err := addEvent(ctx, tx, ms(now), "regression", dir, v.Reason); err != nil {
				return err
			}
		}
		return nil
	})
}

// realOrNull stores NaN as NULL (SQLite has no NaN); ±Inf are stored as is.
func realOrNull(f float64) any {
	if math.IsNaN(f) {
		return nil
	}
	return f
}

func nullToNaN(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}

// RegressionFilter selects regressions; zero fields do not filter.
type RegressionFilter struct {
	Metric string
	Since  time.Time // flagged at or after
	Dir    string
}

// Regressions returns the recorded regressions, newest first.
func (db *DB) Regressions(ctx context.Context, f RegressionFilter) ([]Regression, error) {
	var out []Regression
	err := db.RegressionPasses(ctx, f, func(pass func(func(Regression) error) error) error {
		return pass(func(g Regression) error {
			out = append(out, g)
			return nil
		})
	})
	return out, err
}

// RegressionPasses calls fn with pass, which reads the regressions f
// selects, newest first, one at a time (memory flat whatever their number),
// from one read transaction however often fn calls it: a table laid out in
// two passes (the column widths, then the rows) sees the same rows in both.
// fn's error, and the error of pass's callback, are returned as they are.
func (db *DB) RegressionPasses(ctx context.Context, f RegressionFilter, fn func(pass func(func(Regression) error) error) error) error {
	db.calls.Add(1)
	q := `SELECT g.id, g.at, g.dir, g.run_id, g.project, g.name, g.metric, g.goal, g.value,
		g.baseline_n, g.median, g.mad, g.z, g.rel_change, g.baseline_run_ids, g.reason
		FROM regressions g`
	var (
		where []string
		args  []any
	)
	if f.Metric != "" {
		where, args = append(where, "g.metric = ?"), append(args, f.Metric)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "g.at >= ?"), append(args, ms(f.Since))
	}
	if f.Dir != "" {
		where, args = append(where, "g.dir = ?"), append(args, f.Dir)
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY g.at DESC, g.id DESC`
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: regressions: %w", err)
	}
	defer tx.Rollback()
	return fn(func(each func(Regression) error) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("ledger: regressions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanRegression(rows)
			if err != nil {
				return fmt.Errorf("ledger: regressions: %w", err)
			}
			if err := each(g); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("ledger: regressions: %w", err)
		}
		return nil
	})
}

func scanRegression(rows *sql.Rows) (Regression, error) {
	var (
		g                     Regression
		at                    int64
		goal, ids             string
		value, med, mad, z, r sql.NullFloat64
	)
	if err := rows.Scan(&g.ID, &at, &g.Dir, &g.RunID, &g.Project, &g.Name, &g.Verdict.Metric, &goal, &value,
		&g.Verdict.BaselineN, &med, &mad, &z, &r, &ids, &g.Verdict.Reason); err != nil {
		return g, err
	}
	g.At = fromMS(at)
	g.Verdict.Goal, _ = kernels.ParseGoal(goal)
	g.Verdict.Value, g.Verdict.Median, g.Verdict.MAD = nullToNaN(value), nullToNaN(med), nullToNaN(mad)
	g.Verdict.Z, g.Verdict.RelDelta = nullToNaN(z), nullToNaN(r)
	g.Verdict.ZeroSpread = mad.Valid && mad.Float64 == 0
	g.Verdict.Kind = kernels.VerdictRegression
	g.BaselineRunIDs = jsonlist.Decode(ids)
	return g, nil
}

// CountRegressions returns how many regressions are recorded.
func (db *DB) CountRegressions(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM regressions`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: count regressions: %w", err)
	}
	return n, nil
}

// SortStages orders the dirs of one W&B run (pipeline stages, resumes) the
// way they are handed to wandb sync and merged: the one stage order of
// runner, StageOrder.
func SortStages(runs []Run) {
	slices.SortStableFunc(runs, StageOrder)
}

// MergeSummaries merges the final W&B summaries of the dirs of one run in
// stage order (SortStages): a later stage's value for a key replaces an
// earlier one, as W&B shows a resumed run. runs is sorted in place.
// Non-finite numbers, stored as the strings "NaN", "Infinity" and
// "-Infinity", come back as float64 values. A damaged summary_json is
// skipped rather than failing the whole answer.
func MergeSummaries(runs []Run) map[string]any {
	SortStages(runs)
	out := make(map[string]any)
	for _, r := range runs {
		if r.SummaryJSON == "" {
			continue
		}
		v, err := wandbfile.ParseValue([]byte(r.SummaryJSON))
		if err != nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		for k, x := range m {
			out[k] = restoreNonFinite(x)
		}
	}
	return out
}

// restoreNonFinite undoes MarshalValue's spelling of non-finite floats.
func restoreNonFinite(v any) any {
	switch x := v.(type) {
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
	case map[string]any:
		for k, y := range x {
			x[k] = restoreNonFinite(y)
		}
	}
	return v
}

// JobTelemetry is what the jobs table knows about the job that produced a run.
type JobTelemetry struct {
	GPUHours *float64 // wall time x number of GPUs, in hours; nil when not ended
	EnergyJ  *float64 // nil when not measured
}

// JobTelemetry returns the GPU hours and energy of the given jobs. It reads
// the jobs table only when it has the columns it needs (started_at,
// ended_at, gpu_uuids, energy_j), so a ledger without job telemetry answers
// with an empty map instead of an error.
func (db *DB) JobTelemetry(ctx context.Context, ids []int64) (map[int64]JobTelemetry, error) {
	out := make(map[int64]JobTelemetry)
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.query(ctx, `SELECT name FROM pragma_table_info('jobs')`)
	if err != nil {
		return nil, fmt.Errorf("ledger: job telemetry: %w", err)
	}
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: job telemetry: %w", err)
		}
		cols[c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: job telemetry: %w", err)
	}
	if !cols["id"] || !cols["started_at"] || !cols["ended_at"] || !cols["gpu_uuids"] || !cols["energy_j"] {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `SELECT id, started_at, ended_at, gpu_uuids, energy_j FROM jobs WHERE id IN (?` +
		strings.Repeat(", ?", len(ids)-1) + `)`
	jr, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: job telemetry: %w", err)
	}
	defer jr.Close()
	for jr.Next() {
		var (
			id             int64
			started, ended sql.NullInt64
			uuids          sql.NullString
			energy         sql.NullFloat64
		)
		if err := jr.Scan(&id, &started, &ended, &uuids, &energy); err != nil {
			return nil, fmt.Errorf("ledger: job telemetry: %w", err)
		}
		var t JobTelemetry
		if started.Valid && ended.Valid && ended.Int64 >= started.Int64 {
			var gpus []string
			_ = json.Unmarshal([]byte(uuids.String), &gpus) // damaged or empty: no GPUs
			h := float64(ended.Int64-started.Int64) / float64(time.Hour/time.Millisecond) * float64(len(gpus))
			t.GPUHours = &h
		}
		if energy.Valid {
			e := energy.Float64
			t.EnergyJ = &e
		}
		out[id] = t
	}
	if err := jr.Err(); err != nil {
		return nil, fmt.Errorf("ledger: job telemetry: %w", err)
	}
	return out, nil
}
