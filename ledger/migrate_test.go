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

// An older ledger (schema 14, before the summary index) opened by this
// runner keeps every row, and its summaries are indexed by the open: the
// rankings are those of every run read in Go.
func TestMigrationKeepsRowsAndIndexesSummaries(t *testing.T) {
	ctx := context.Background()
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
