package ledger_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// A run first seen active, and its growth while it stays active, leave its
// group's summary values stale instead of computing them on every slot; the leaderboard still
// ranks it by its newest summary (from its rows), and its values are
// computed once it is ready.
func TestActiveGrowthLeavesTheSummaryStaleUntilReady(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := ledgertest.Open(t, path, ledger.Options{})
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	obs := func(size int64, loss string) ledger.Observation {
		return ledger.Observation{Dir: "/w/offline-run-g", LogPath: "/w/offline-run-g/run-g.wandb", Size: size,
			MTime: t0.Add(time.Duration(size) * time.Second), Known: size > 100,
			Meta: &ledger.Meta{RunID: "g", Project: "p", StartTime: &t0, SummaryJSON: `{"loss": ` + loss + `}`, TornTail: true}}
	}
	stale := func() int {
		t.Helper()
		var n int
		if err := raw(t, path).QueryRow(`SELECT count(*) FROM summary_stale`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	best := func() float64 {
		t.Helper()
		rk, err := db.Rank(ctx, ledger.RankFilter{Metric: "loss"}, 1, func(kernels.Goal) (kernels.Goal, error) { return kernels.GoalLower, nil })
		if err != nil || len(rk.Runs) != 1 {
			t.Fatalf("rank: %v, %+v", err, rk)
		}
		return rk.Runs[0].Value
	}
	steps := []struct {
		o         ledger.Observation
		stale     int
		wantValue float64
	}{
		{obs(100, "0.9"), 1, 0.9}, // first sight: stale, ranked from its row
		{obs(200, "0.5"), 1, 0.5}, // growth: stale, ranked from its row
		{obs(300, "0.3"), 1, 0.3},
	}
	for i, st := range steps {
		rows, err := db.UpsertRuns(ctx, []ledger.Observation{st.o})
		if err != nil || rows[0].State != ledger.StateActive {
			t.Fatalf("step %d: %v, %+v", i, err, rows)
		}
		if got := stale(); got != st.stale {
			t.Errorf("step %d: %d stale groups, want %d", i, got, st.stale)
		}
		if got := best(); got != st.wantValue {
			t.Errorf("step %d: ranked at %g, want %g", i, got, st.wantValue)
		}
	}
	moved, err := db.MarkReadyMany(ctx, []ledger.ReadyMark{{Dir: "/w/offline-run-g", Why: "settled"}})
	if err != nil || len(moved) != 1 {
		t.Fatalf("ready: %v, %v", err, moved)
	}
	if got := stale(); got != 0 {
		t.Errorf("once ready: %d stale groups, want its values computed", got)
	}
	if got := best(); got != 0.3 {
		t.Errorf("once ready: ranked at %g, want 0.3", got)
	}

	// A run first seen done (synced by hand) is computed at once.
	o := obs(100, "0.1")
	o.Dir, o.LogPath, o.MarkerExists, o.Meta.RunID = "/w/offline-run-h", "/w/offline-run-h/run-h.wandb", true, "h"
	rows, err := db.UpsertRuns(ctx, []ledger.Observation{o})
	if err != nil || rows[0].State == ledger.StateActive {
		t.Fatalf("synced first sight: %v, %+v", err, rows)
	}
	if got := stale(); got != 0 {
		t.Errorf("a run first seen %s: %d stale groups, want its values computed", rows[0].State, got)
	}
}

// The rebuild of many stale groups (a first open of a generated ledger)
// indexes every group that has runs and drops the groups whose runs are
// all gone: here a group indexed before and one run in five deleted by
// another writer.
func TestRebuildIndexesEveryGroupAndDropsGoneOnes(t *testing.T) {
	path := oldLedger(t, ledger.SchemaVersion(), 4000)
	r := raw(t, path)
	for _, q := range []string{
		`INSERT INTO summary_groups (group_key, project, run_group) VALUES ('gone/1', 'gone', '')`,
		`INSERT INTO summary_stale (group_key) VALUES ('gone/1')`,
		`DELETE FROM runs WHERE rowid % 5 = 0`,
	} {
		if _, err := r.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := ledgertest.Open(t, path, ledger.Options{})
	var stale, groups, want, gone int
	if err := r.QueryRow(`SELECT (SELECT count(*) FROM summary_stale), (SELECT count(*) FROM summary_groups),
		(SELECT count(DISTINCT group_key) FROM runs), (SELECT count(*) FROM summary_groups WHERE group_key NOT IN (SELECT group_key FROM runs))`).
		Scan(&stale, &groups, &want, &gone); err != nil {
		t.Fatal(err)
	}
	if stale != 0 || groups != want || gone != 0 {
		t.Fatalf("after the open: %d stale, %d groups indexed (%d without runs), want 0, %d, 0", stale, groups, gone, want)
	}
	sameRankings(t, db)
}
