package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnerhq/runner/kernels"
)

// FlatSummary adds dotted keys for nested summary values ("eval.nrmse"
// for {"eval": {"nrmse": ...}}), leaving media and tables ({"_type": ...})
// alone. Top-level keys win over flattened ones.
func FlatSummary(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		if _, media := m["_type"]; media {
			return
		}
		for k, v := range m {
			key := prefix + "." + k
			if sub, ok := v.(map[string]any); ok {
				walk(key, sub)
			} else if _, taken := s[key]; !taken {
				out[key] = v
			}
		}
	}
	for k, v := range s {
		out[k] = v
		if sub, ok := v.(map[string]any); ok {
			walk(k, sub)
		}
	}
	return out
}

// SummaryNumber returns a summary value as a number, non-finite included;
// ok is false when the key is absent or not a number.
func SummaryNumber(flat map[string]any, key string) (float64, bool) {
	switch v := flat[key].(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	}
	return 0, false
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// summaryValue is the value a W&B run (the dirs of one group) ranks by for
// metric: its merged, flattened summary's number, when finite. runs is
// sorted into stage order.
func summaryValue(runs []Run, metric string) (float64, bool) {
	v, ok := SummaryNumber(FlatSummary(MergeSummaries(runs)), metric)
	return v, ok && finite(v)
}

// Summary values (docs/design.md "Large ledgers"): summary_values holds
// every finite number of each W&B run's merged, flattened summary, so a
// leaderboard is an indexed top-k query instead of a parse of every run.
// They are computed here, by the same functions as every other answer
// (SQLite's JSON functions read numbers and NaN differently from the
// .wandb reader's parser). Triggers on runs, which no writer can bypass,
// drop a group's values and mark it stale; the writer that made the change
// recomputes it in the same transaction (UpsertRuns), and the next
// writable Open recomputes what another writer left stale. Readers rank a
// stale group from its rows, as before.

// staleBatch bounds the groups Open recomputes in one transaction, so the
// daemon and other commands get the write lock in between (unless it
// rebuilds, rebuildStale), and the groups one refreshKeys batch reads.
const staleBatch = 2000

// refreshSummaries recomputes, inside tx, those of the groups keys that
// are stale.
func refreshSummaries(ctx context.Context, tx *Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for len(keys) > 0 {
		n := min(len(keys), staleBatch)
		list, arg := inList(keys[:n])
		stale, err := groupKeys(ctx, tx, `SELECT group_key FROM summary_stale WHERE group_key IN (`+list+`) ORDER BY group_key`, arg)
		if err != nil {
			return err
		}
		if err := refreshKeys(ctx, tx, stale); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// refreshRunGroups recomputes the stale groups of the runs of dirs.
func refreshRunGroups(ctx context.Context, tx *Tx, dirs []string) error {
	var keys []string
	for i := 0; i < len(dirs); i += 500 { // below SQLite's limit on bound parameters
		list, arg := inList(dirs[i:min(i+500, len(dirs))])
		k, err := groupKeys(ctx, tx, `SELECT DISTINCT group_key FROM runs WHERE dir IN (`+list+`)`, arg)
		if err != nil {
			return err
		}
		keys = append(keys, k...)
	}
	return refreshSummaries(ctx, tx, keys)
}

func groupKeys(ctx context.Context, tx *Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: stale summaries: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("ledger: stale summaries: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: stale summaries: %w", err)
	}
	return out, nil
}

// refreshKeys recomputes the summary values of the stale groups keys
// (sorted, distinct, at most staleBatch) from their runs rows (none: the
// group is gone) and marks them fresh. A few statements for the whole
// batch, not a few per group: per statement, the driver costs as much as
// SQLite's work, and a lab's 700,000 groups one at a time took half an
// hour (docs/design.md "Large ledgers").
func refreshKeys(ctx context.Context, tx *Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	fail := func(err error) error { return fmt.Errorf("ledger: summaries of %d groups: %w", len(keys), err) }
	list, arg := inList(keys)
	runs, declared, err := groupRuns(ctx, tx, list, arg)
	if err != nil {
		return fail(err)
	}
	// A stale group has no values: the trigger that marked it dropped them.
	if _, err := tx.ExecContext(ctx, `DELETE FROM summary_stale WHERE group_key IN (`+list+`)`, arg); err != nil {
		return fail(err)
	}
	var gone []string
	type group struct {
		key, project, runGroup string
		flat                   map[string]any
	}
	var groups []group
	for _, k := range keys {
		g := runs[k]
		if len(g) == 0 {
			gone = append(gone, k)
			continue
		}
		flat := FlatSummary(MergeSummaries(g)) // g now in stage order
		// The first stage's project and group: what a leaderboard filters on.
		groups = append(groups, group{k, g[0].Project, g[0].Group, flat})
	}
	if len(gone) > 0 {
		l, a := inList(gone)
		if _, err := tx.ExecContext(ctx, `DELETE FROM summary_groups WHERE group_key IN (`+l+`)`, a); err != nil {
			return fail(err)
		}
	}
	ids := make(map[string]int64, len(groups))
	for i := 0; i < len(groups); i += groupsPerInsert {
		chunk := groups[i:min(i+groupsPerInsert, len(groups))]
		args := make([]any, 0, 3*len(chunk))
		for _, g := range chunk {
			args = append(args, g.key, g.project, g.runGroup)
		}
		q := `INSERT INTO summary_groups (group_key, project, run_group) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, len(chunk)-1) + `
			ON CONFLICT (group_key) DO UPDATE SET project = excluded.project, run_group = excluded.run_group
			RETURNING id, group_key`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fail(err)
		}
		for rows.Next() {
			var (
				id int64
				k  string
			)
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return fail(err)
			}
			ids[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(err)
		}
	}
	var vals []any
	flush := func(all bool) error {
		for len(vals) >= 4*valuesPerInsert || (all && len(vals) > 0) {
			n := min(len(vals)/4, valuesPerInsert)
			q := `INSERT INTO summary_values (gid, key, value, declared) VALUES (?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?)`, n-1)
			if _, err := tx.ExecContext(ctx, q, vals[:4*n]...); err != nil {
				return fail(err)
			}
			vals = vals[4*n:]
		}
		return nil
	}
	for _, g := range groups {
		gid := ids[g.key]
		for k := range g.flat {
			if v, ok := SummaryNumber(g.flat, k); ok && finite(v) {
				vals = append(vals, gid, k, v, declared[g.key][k])
			}
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

// groupsPerInsert and valuesPerInsert bound the rows of one INSERT into
// summary_groups and summary_values (and so the distinct statements a
// transaction prepares: a batch's last, shorter one).
const (
	groupsPerInsert = 100
	valuesPerInsert = 100
)

// groupRuns reads, by group key, the runs of the groups in list (an
// inList of arg) with the columns a summary needs, and the goals their
// logs declare (metric records) by metric key, as declared bits. One
// query: the goals of a row are read with it, not by a second lookup of
// every row through runs_group.
func groupRuns(ctx context.Context, tx *Tx, list string, arg any) (map[string][]Run, map[string]map[string]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT r.group_key, r.dir, r.project, r.run_group, r.start_time, r.summary_json,
		(SELECT json_group_array(json_array(m.key, m.goal)) FROM metrics m WHERE m.dir = r.dir AND m.goal_source = 'log')
		FROM runs r WHERE r.group_key IN (`+list+`)`, arg)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	runs := map[string][]Run{}
	declared := map[string]map[string]int{}
	for rows.Next() {
		var (
			r     Run
			start sql.NullInt64
			goals string
		)
		if err := rows.Scan(&r.GroupKey, &r.Dir, &r.Project, &r.Group, &start, &r.SummaryJSON, &goals); err != nil {
			return nil, nil, err
		}
		r.StartTime = fromNullMS(start)
		runs[r.GroupKey] = append(runs[r.GroupKey], r)
		if goals == "[]" {
			continue
		}
		var pairs [][2]string
		if err := json.Unmarshal([]byte(goals), &pairs); err != nil {
			return nil, nil, fmt.Errorf("declared goals of %s: %w", r.Dir, err)
		}
		for _, p := range pairs {
			g, _ := kernels.ParseGoal(p[1])
			if declared[r.GroupKey] == nil {
				declared[r.GroupKey] = map[string]int{}
			}
			declared[r.GroupKey][p[0]] |= goalBit(g)
		}
	}
	return runs, declared, rows.Err()
}

// Bits of summary_values.declared: the goals a group's logs declare.
const (
	declaresLower  = 1
	declaresHigher = 2
)

func goalBit(g kernels.Goal) int {
	switch g {
	case kernels.GoalLower:
		return declaresLower
	case kernels.GoalHigher:
		return declaresHigher
	}
	return 0
}

// summaryValueIndexes are the indexes of summary_values as migration 15
// made them, which rebuildStale drops and makes again: the same text, so
// a rebuilt ledger's schema is a migrated one's.
var summaryValueIndexes = []struct{ name, sql string }{
	{"summary_values_rank", `CREATE INDEX summary_values_rank ON summary_values (key, value)`},
	{"summary_values_declared", `CREATE INDEX summary_values_declared ON summary_values (key, declared) WHERE declared != 0`},
}

// refreshStale recomputes every stale group. Only a migration (existing
// runs) and writers other than this package leave groups stale, so on most
// opens this is one indexed read. A few groups are recomputed staleBatch
// per transaction; many (a ledger of runs recorded by an older runner, or
// by hand) in one rebuild (rebuildStale).
func (db *DB) refreshStale(ctx context.Context) error {
	var stale, groups int
	if err := db.queryRow(ctx, `SELECT (SELECT count(*) FROM summary_stale), (SELECT count(*) FROM summary_groups)`).Scan(&stale, &groups); err != nil || stale == 0 {
		if err != nil {
			return fmt.Errorf("ledger %s: stale summaries: %w", db.path, err)
		}
		return nil
	}
	t0 := time.Now()
	if stale > staleBatch && 4*stale >= groups {
		if err := db.inTx(ctx, func(tx *Tx) error { return rebuildStale(ctx, tx) }); err != nil {
			return err
		}
	} else {
		for {
			var batch int
			err := db.inTx(ctx, func(tx *Tx) error {
				keys, err := nextStale(ctx, tx)
				batch = len(keys)
				if err != nil {
					return err
				}
				return refreshKeys(ctx, tx, keys)
			})
			if err != nil {
				return err
			}
			if batch < staleBatch {
				break
			}
		}
	}
	db.log.Info("ledger: summaries indexed", "path", db.path, "runs", stale, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// nextStale returns the first staleBatch stale groups (refreshKeys marks
// them fresh, so the next call returns the next ones).
func nextStale(ctx context.Context, tx *Tx) ([]string, error) {
	return groupKeys(ctx, tx, `SELECT group_key FROM summary_stale ORDER BY group_key LIMIT ?`, staleBatch)
}

// rebuildStale recomputes every stale group in tx with summary_values'
// value indexes dropped, then makes them again. Inserting the values of a
// large share of the groups into those indexes is a write to a random page
// of an index larger than the writer's cache for each value (a lab's
// 700,000 groups: 89 GB read, 41 GB written); making an index sorts once.
// It is one transaction so that no reader sees the indexes missing; the
// daemon (patient) and other writers wait for it.
func rebuildStale(ctx context.Context, tx *Tx) error {
	for _, ix := range summaryValueIndexes {
		if _, err := tx.Tx.ExecContext(ctx, `DROP INDEX `+ix.name); err != nil {
			return fmt.Errorf("ledger: rebuild summaries: %w", err)
		}
	}
	for {
		keys, err := nextStale(ctx, tx)
		if err != nil || len(keys) == 0 {
			if err != nil {
				return err
			}
			break
		}
		if err := refreshKeys(ctx, tx, keys); err != nil {
			return err
		}
	}
	for _, ix := range summaryValueIndexes {
		if _, err := tx.Tx.ExecContext(ctx, ix.sql); err != nil {
			return fmt.Errorf("ledger: rebuild summaries: %w", err)
		}
	}
	return nil
}

// RankFilter selects the W&B runs a Rank compares; empty fields do not
// filter.
type RankFilter struct {
	Metric  string // the summary key (flattened: "eval.nrmse" for a nested value)
	Project string
	Group   string // the first stage's W&B group
}

// RankedRun is one W&B run of a Ranking.
type RankedRun struct {
	Key   string // group key
	Runs  []Run  // its dirs in stage order
	Value float64
}

// Ranking is the answer of Rank.
type Ranking struct {
	Goal kernels.Goal
	Runs []RankedRun // best first
}

// Rank ranks the W&B runs that have a finite summary value for f.Metric,
// best first, ties by group key (kernels.Rank), and returns the first
// limit (<= 0: all). decide turns the goal the runs' logs declare for the
// metric (GoalUnknown when none; when they disagree, the most recently read
// run's, as DeclaredGoal) into the goal to rank by; its error is returned
// as is. With no run to rank, decide is not called and the ranking is
// empty. One read transaction: every part sees the same ledger.
func (db *DB) Rank(ctx context.Context, f RankFilter, limit int, decide func(declared kernels.Goal) (kernels.Goal, error)) (*Ranking, error) {
	db.calls.Add(1)
	var rk *Ranking
	err := db.mappedRead(ctx, func(tx *sql.Tx) error {
		var err error
		rk, err = rank(ctx, tx, f, limit, decide)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rk, nil
}

// fewGroups is the most groups a ranking's filter may select to be read
// from its groups rather than in value order: 20,000 lookups are tens of
// milliseconds, where the value order can walk every group.
const fewGroups = 20_000

// The two ways to read the values of a metric (rank): in value order
// (summary_values_rank), or group by group (CROSS JOIN: groups first).
const (
	valueOrder = `summary_values v JOIN summary_groups g ON g.id = v.gid`
	byGroup    = `summary_groups g CROSS JOIN summary_values v ON v.gid = g.id`
)

func rank(ctx context.Context, tx *sql.Tx, f RankFilter, limit int, decide func(kernels.Goal) (kernels.Goal, error)) (*Ranking, error) {
	fail := func(err error) error { return fmt.Errorf("ledger: rank by %s: %w", f.Metric, err) }
	args := []any{sql.Named("metric", f.Metric), sql.Named("project", f.Project), sql.Named("group", f.Group)}
	groupCond := ``
	if f.Project != "" {
		groupCond += ` AND g.project = :project`
	}
	if f.Group != "" {
		groupCond += ` AND g.run_group = :group`
	}
	// src is what the ranking reads, probe what the check that any value
	// exists and the declared-goal probes read. In value order SQLite walks
	// the values of every group until it has limit of the filter's; the
	// probes walk the groups in id order, in which a project's groups may
	// all come last. A filter of at most fewGroups groups is probed
	// through its groups (summary_groups_project, summary_groups_group,
	// migration 22; a probe stops at the first that answers), and ranked
	// through them when they are fewer than the values the value order is
	// expected to walk, limit × total / n if the filter's values are
	// spread like the others'. (A larger filter whose values all sort late
	// still walks the others' first.)
	src, probe := valueOrder, valueOrder
	if groupCond != "" {
		var n, total int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM summary_groups g WHERE true`+groupCond+`
			LIMIT `+strconv.Itoa(fewGroups+1)+`)), (SELECT coalesce(max(id), 0) FROM summary_groups)`, args...).Scan(&n, &total); err != nil {
			return nil, fail(err)
		}
		if n <= fewGroups {
			probe = byGroup
			if limit <= 0 || n*n < limit*total {
				src = byGroup
			}
		}
	}

	// Stale groups (another writer changed them since) rank from their rows.
	stale, err := staleGroups(ctx, tx, f)
	if err != nil {
		return nil, fail(err)
	}
	var staleDirs []string
	for _, g := range stale {
		for _, r := range g.Runs {
			staleDirs = append(staleDirs, r.Dir)
		}
	}
	_, staleArg := inList(staleDirs)
	args = append(args, sql.Named("stale", staleArg))

	if len(stale) == 0 {
		var some bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+probe+`
			WHERE v.key = :metric`+groupCond+`)`, args...).Scan(&some); err != nil {
			return nil, fail(err)
		}
		if !some {
			return &Ranking{}, nil
		}
	}

	declared, err := declaredAmong(ctx, tx, probe, groupCond, f, args)
	if err != nil {
		return nil, fail(err)
	}
	goal, err := decide(declared)
	if err != nil {
		return nil, err
	}

	order := `ASC`
	if goal == kernels.GoalHigher {
		order = `DESC`
	}
	// The index gives the order of values; ties are sorted by key as they
	// come, and the scan stops after limit rows.
	top := `SELECT g.group_key, v.value FROM ` + src + `
		WHERE v.key = :metric` + groupCond + ` ORDER BY v.value ` + order + `, g.group_key LIMIT :limit`
	n := limit
	if n <= 0 {
		n = -1
	}
	rows, err := tx.QueryContext(ctx, top, append(args, sql.Named("limit", n))...)
	if err != nil {
		return nil, fail(err)
	}
	values := map[string]float64{}
	for rows.Next() {
		var (
			k string
			v float64
		)
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, fail(err)
		}
		values[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	byKey := make(map[string]RankedRun, len(stale))
	for _, g := range stale {
		values[g.Key] = g.Value
		byKey[g.Key] = g
	}
	order2 := kernels.Rank(values, goal)
	if limit > 0 && len(order2) > limit {
		order2 = order2[:limit]
	}
	var fetch []string
	for _, k := range order2 {
		if _, ok := byKey[k]; !ok {
			fetch = append(fetch, k)
		}
	}
	if len(fetch) > 0 {
		l, arg := inList(fetch)
		q := `SELECT ` + runCols + ` FROM runs WHERE group_key IN (` + l + `)`
		qargs := []any{arg}
		if f.Project != "" {
			// "+": through runs_group, not every row of the project (runs_project).
			q += ` AND +project = ?`
			qargs = append(qargs, f.Project)
		}
		got, err := scanRuns(ctx, tx, q+` ORDER BY first_seen, dir`, qargs...)
		if err != nil {
			return nil, fail(err)
		}
		for _, g := range groupsOf(got) {
			v, ok := summaryValue(g.Runs, f.Metric)
			if !ok { // cannot be: the values were written from these rows
				v = values[g.Key]
			}
			g.Value = v
			byKey[g.Key] = g
		}
	}
	rk := &Ranking{Goal: goal, Runs: make([]RankedRun, 0, len(order2))}
	for _, k := range order2 {
		if g, ok := byKey[k]; ok {
			rk.Runs = append(rk.Runs, g)
		}
	}
	return rk, nil
}

// staleGroups returns the stale groups that f selects and have a finite
// value for f.Metric, computed from their rows.
func staleGroups(ctx context.Context, tx *sql.Tx, f RankFilter) ([]RankedRun, error) {
	var some bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM summary_stale)`).Scan(&some); err != nil || !some {
		return nil, err
	}
	q := `SELECT ` + runCols + ` FROM runs WHERE group_key IN (SELECT group_key FROM summary_stale)`
	var args []any
	if f.Project != "" {
		q += ` AND project = ?`
		args = append(args, f.Project)
	}
	runs, err := scanRuns(ctx, tx, q+` ORDER BY first_seen, dir`, args...)
	if err != nil {
		return nil, err
	}
	var out []RankedRun
	for _, g := range groupsOf(runs) {
		if f.Group != "" && g.Runs[0].Group != f.Group {
			continue
		}
		if v, ok := summaryValue(g.Runs, f.Metric); ok {
			g.Value = v
			out = append(out, g)
		}
	}
	return out, nil
}

// groupsOf splits runs into W&B runs (by group key, in order of first
// appearance), each in stage order.
func groupsOf(runs []Run) []RankedRun {
	var out []RankedRun
	at := map[string]int{}
	for _, r := range runs {
		i, ok := at[r.GroupKey]
		if !ok {
			i = len(out)
			at[r.GroupKey] = i
			out = append(out, RankedRun{Key: r.GroupKey})
		}
		out[i].Runs = append(out[i].Runs, r)
	}
	for _, g := range out {
		SortStages(g.Runs)
	}
	return out
}

// declaredAmong is DeclaredGoal over the dirs of the groups a ranking
// compares: those with a value in summary_values that the filter selects,
// and the stale dirs (:stale). Nearly always the logs agree, so it asks
// whether any declares lower and whether any declares higher, from the
// declared bits of the values (an index of the groups that declare one,
// in no order related to the filter, so a probe stops soon; a filter of
// few groups is probed through its groups, src, once the index says some
// group declares the goal at all); only when both are declared does it
// order the dirs by recency.
func declaredAmong(ctx context.Context, tx *sql.Tx, src, groupCond string, f RankFilter, args []any) (kernels.Goal, error) {
	var found []kernels.Goal
	// "declared != 0" lets SQLite use the partial index: it cannot see
	// that a bound :bit is never 0.
	const declares = `v.key = :metric AND v.declared != 0 AND v.declared IN (:bit, 3)`
	anyGroup := ``
	if src == byGroup {
		anyGroup = `EXISTS (SELECT 1 FROM summary_values v WHERE ` + declares + `) AND `
	}
	for _, g := range []kernels.Goal{kernels.GoalLower, kernels.GoalHigher} {
		var yes bool
		a := append(args, sql.Named("bit", goalBit(g)), sql.Named("goal", g.String()))
		if err := tx.QueryRowContext(ctx, `SELECT `+anyGroup+`EXISTS (SELECT 1 FROM `+src+`
				WHERE `+declares+groupCond+`)
			OR EXISTS (SELECT 1 FROM metrics m WHERE m.dir IN (SELECT value FROM json_each(:stale))
				AND m.key = :metric AND m.goal_source = 'log' AND m.goal = :goal)`, a...).Scan(&yes); err != nil {
			return kernels.GoalUnknown, err
		}
		if yes {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return kernels.GoalUnknown, nil
	case 1:
		return found[0], nil
	}
	among := ` AND (EXISTS (SELECT 1 FROM summary_groups g JOIN summary_values v ON v.gid = g.id AND v.key = :metric
			WHERE g.group_key = r.group_key` + groupCond + `) OR m.dir IN (SELECT value FROM json_each(:stale)))`
	if f.Project != "" {
		among += ` AND r.project = :project`
	}
	var goal string
	if err := tx.QueryRowContext(ctx, `SELECT m.goal FROM metrics m JOIN runs r ON r.dir = m.dir
		WHERE m.key = :metric AND m.goal_source = 'log'`+among+` ORDER BY r.updated_at DESC, r.dir DESC LIMIT 1`,
		args...).Scan(&goal); err != nil {
		return kernels.GoalUnknown, err
	}
	g, _ := kernels.ParseGoal(goal)
	return g, nil
}

// scanRuns runs a runs query (selecting runCols) through q.
func scanRuns(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]Run, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// baselineCols are what a regression baseline needs of a run (the
// candidate's grouping, filters and end time), without the JSON blobs.
const baselineCols = `dir, group_key, run_id, project, run_group, job_type, state, start_time, runtime_s, mtime`

// BaselineRuns returns the runs of project with only baselineCols filled
// in, ordered as ListRuns, and by group key the finite summary values of
// metrics (from summary_values: the merged, flattened summaries that
// SummaryNumber and finite would give). A baseline needs the values of a
// few metrics, not every summary parsed, which is what made a report of a
// 50,000-run project read and parse every summary. ok is false when a
// group of the project is stale (another writer changed it since): the
// caller must then read the summaries themselves. One read transaction.
func (db *DB) BaselineRuns(ctx context.Context, project string, metrics []string) (runs []Run, values map[string]map[string]float64, ok bool, err error) {
	db.calls.Add(1)
	fail := func(err error) error { return fmt.Errorf("ledger: baseline runs of %s: %w", project, err) }
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, false, fail(err)
	}
	defer tx.Rollback()
	var stale bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM summary_stale s JOIN runs r ON r.group_key = s.group_key
		WHERE r.project = ?)`, project).Scan(&stale); err != nil {
		return nil, nil, false, fail(err)
	}
	if stale {
		return nil, nil, false, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+baselineCols+` FROM runs WHERE project = ? ORDER BY first_seen, dir`, project)
	if err != nil {
		return nil, nil, false, fail(err)
	}
	for rows.Next() {
		var (
			r              Run
			start, runtime sql.NullInt64
			mtime          int64
		)
		if err := rows.Scan(&r.Dir, &r.GroupKey, &r.RunID, &r.Project, &r.Group, &r.JobType, &r.State, &start, &runtime, &mtime); err != nil {
			rows.Close()
			return nil, nil, false, fail(err)
		}
		r.StartTime, r.MTime = fromNullMS(start), fromMS(mtime)
		if runtime.Valid {
			v := int(runtime.Int64)
			r.RuntimeS = &v
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, fail(err)
	}
	values = map[string]map[string]float64{}
	if len(metrics) == 0 {
		return runs, values, true, nil
	}
	// A group is filed under its first stage's project, the one a
	// candidate is of (its stages share the project in the group key).
	keys, arg := inList(metrics)
	vrows, err := tx.QueryContext(ctx, `SELECT g.group_key, v.key, v.value FROM summary_values v JOIN summary_groups g ON g.id = v.gid
		WHERE v.key IN (`+keys+`) AND g.project = ?`, arg, project)
	if err != nil {
		return nil, nil, false, fail(err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var (
			k, m string
			v    float64
		)
		if err := vrows.Scan(&k, &m, &v); err != nil {
			return nil, nil, false, fail(err)
		}
		if values[k] == nil {
			values[k] = map[string]float64{}
		}
		values[k][m] = v
	}
	if err := vrows.Err(); err != nil {
		return nil, nil, false, fail(err)
	}
	return runs, values, true, nil
}
