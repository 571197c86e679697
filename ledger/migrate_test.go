package ledger_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// oldLedger makes a ledger at schema version version, as the runner of
// that version left it, filled by ledgertest.Generate with n run dirs.
func oldLedger(t *testing.T, version, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema, appID := ledger.Schema(version)
	for i, m := range schema {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d; PRAGMA journal_mode = WAL", version, appID)); err != nil {
		t.Fatal(err)
	}
	if _, err := ledgertest.Generate(context.Background(), path, filepath.Join(t.TempDir(), "tree"), n); err != nil {
		t.Fatal(err)
	}
	return path
}

// content is every row of the tables a migration must keep, in one
// digestible string per table.
func content(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, q := range map[string]string{
		"runs":        `SELECT count(*) || ':' || total(length(dir || summary_json || config_json || state || url)) FROM runs`,
		"metrics":     `SELECT count(*) || ':' || total(length(dir || key || goal)) FROM metrics`,
		"jobs":        `SELECT count(*) FROM jobs`,
		"regressions": `SELECT count(*) || ':' || total(length(dir || metric || reason)) FROM regressions`,
	} {
		var s string
		if err := raw(t, path).QueryRow(q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = s
	}
	return out
}

// goRanking is the ranking Rank must give, computed in Go from every run
// as before the summary index: merged, flattened summaries, finite values,
// ties by group key.
func goRanking(t *testing.T, db *ledger.DB, f ledger.RankFilter, goal kernels.Goal, limit int) []string {
	t.Helper()
	runs, err := db.ListRuns(context.Background(), ledger.Filter{Project: f.Project})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]ledger.Run{}
	for _, r := range runs {
		groups[r.GroupKey] = append(groups[r.GroupKey], r)
	}
	values := map[string]float64{}
	for k, g := range groups {
		ledger.SortStages(g)
		if f.Group != "" && g[0].Group != f.Group {
			continue
		}
		v, ok := ledger.SummaryNumber(ledger.FlatSummary(ledger.MergeSummaries(g)), f.Metric)
		if ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			values[k] = v
		}
	}
	order := kernels.Rank(values, goal)
	if limit > 0 && len(order) > limit {
		order = order[:limit]
	}
	return order
}

// sameRankings checks db's rankings against goRanking's for filters of
// every kind: whole ledger, project, group, nested key, absent key.
func sameRankings(t *testing.T, db *ledger.DB) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range []struct {
		f     ledger.RankFilter
		limit int
	}{
		{ledger.RankFilter{Metric: "eval/nrmse"}, 10},
		{ledger.RankFilter{Metric: "eval/nrmse"}, 0},
		{ledger.RankFilter{Metric: "eval/nrmse", Project: "proj-07"}, 5},
		{ledger.RankFilter{Metric: "train/loss", Group: "sweep-3"}, 10},
		{ledger.RankFilter{Metric: "eval.physics.energy_drift"}, 10},
		{ledger.RankFilter{Metric: "_runtime", Project: "lab"}, 0},
		{ledger.RankFilter{Metric: "absent"}, 10},
	} {
		t.Run(fmt.Sprintf("%+v/%d", tc.f, tc.limit), func(t *testing.T) {
			rk, err := db.Rank(ctx, tc.f, tc.limit, func(declared kernels.Goal) (kernels.Goal, error) {
				if declared == kernels.GoalUnknown {
					return kernels.GoalHigher, nil
				}
				return declared, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			goal := rk.Goal
			if len(rk.Runs) == 0 {
				goal = kernels.GoalHigher
			}
			var got []string
			for _, g := range rk.Runs {
				got = append(got, g.Key)
			}
			if want := goRanking(t, db, tc.f, goal, tc.limit); !slices.Equal(got, want) {
				t.Fatalf("ranking (%s)\n got %v\nwant %v", goal, got, want)
			}
		})
	}
}

// An older ledger (schema 14, before the summary index) opened by this
// runner keeps every row, and its summaries are indexed by the open: the
// rankings are those of every run read in Go.
func TestMigrationKeepsRowsAndIndexesSummaries(t *testing.T) {
	path := oldLedger(t, 14, 3000)
	before := content(t, path)

	db := ledgertest.Open(t, path, ledger.Options{})
	if got := content(t, path); !maps.Equal(got, before) {
		t.Fatalf("rows after the migration %v, before %v", got, before)
	}
	var version, stale, groups int
	r := raw(t, path)
	if err := r.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := r.QueryRow(`SELECT (SELECT count(*) FROM summary_stale), (SELECT count(*) FROM summary_groups)`).Scan(&stale, &groups); err != nil {
		t.Fatal(err)
	}
	if version < 15 || stale != 0 || groups != 2100 {
		t.Fatalf("after open: version %d, %d stale, %d groups indexed, want >= 15, 0, 2100", version, stale, groups)
	}

	sameRankings(t, db)
}

// A ledger whose groups are stale (runs written by an older runner or by
// hand: every group of a generated ledger) answers the same rankings
// before the first writable open (from the rows), after it (from the
// index the open makes: per batch of groups when they are few, one
// rebuild when they are many) and after another writer changes or deletes
// some runs; the rebuilt schema is a new ledger's.
func TestOpenIndexesStaleGroups(t *testing.T) {
	ctx := context.Background()
	fresh := raw(t, ledgertest.Open(t, "", ledger.Options{}).Path())
	for _, tc := range []struct {
		name string
		dirs int
	}{
		{"few groups", 300},
		{"many groups (rebuild)", 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := oldLedger(t, ledger.SchemaVersion(), tc.dirs)
			r := raw(t, path)
			var stale int
			if err := r.QueryRow(`SELECT count(*) FROM summary_stale`).Scan(&stale); err != nil || stale != tc.dirs*7/10 {
				t.Fatalf("stale groups after generating: %d, %v; want %d", stale, err, tc.dirs*7/10)
			}
			t.Run("stale", func(t *testing.T) {
				sameRankings(t, ledgertest.Open(t, path, ledger.Options{ReadOnly: true}))
			})
			t.Run("indexed", func(t *testing.T) {
				sameRankings(t, ledgertest.Open(t, path, ledger.Options{}))
			})
			if err := r.QueryRow(`SELECT count(*) FROM summary_stale`).Scan(&stale); err != nil || stale != 0 {
				t.Fatalf("stale groups after a writable open: %d, %v", stale, err)
			}
			if got, want := schemaOf(t, r), schemaOf(t, fresh); !maps.Equal(got, want) {
				t.Fatalf("schema after the open\n got %v\nwant %v", got, want)
			}
			for _, q := range []string{
				`UPDATE runs SET summary_json = '{"eval/nrmse": 0.01, "train/loss": -1}' WHERE rowid % 7 = 0`,
				`UPDATE runs SET run_group = 'sweep-3' WHERE rowid % 11 = 0`,
				`DELETE FROM runs WHERE rowid % 17 = 0`,
			} {
				if _, err := r.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			t.Run("changed by another writer", func(t *testing.T) {
				sameRankings(t, ledgertest.Open(t, path, ledger.Options{ReadOnly: true}))
			})
			t.Run("indexed again", func(t *testing.T) {
				sameRankings(t, ledgertest.Open(t, path, ledger.Options{}))
			})
		})
	}
}

// schemaOf is the SQL of every table, index and trigger by name.
func schemaOf(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT name, coalesce(sql, '') FROM sqlite_master`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			t.Fatal(err)
		}
		out[name] = q
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
