package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/runnerhq/runner/ledger"
)

// largeLedger makes the shell's ledger hold n runs, fast: the schema from
// ledger.Open, then rows generated in SQL (recording n real logs would take
// minutes). One run in ten is pending, one in a hundred failed instead, the rest
// synced; every run has a train/loss summary and history metric, over
// projects of 1,000 runs. The dirs do not exist on disk.
func largeLedger(tb testing.TB, path, root string, n int) {
	tb.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, path, ledger.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	now := time.Now().UnixMilli()
	for _, q := range []string{
		`WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?)
		INSERT INTO runs (dir, base, log_path, group_key, run_id, project, start_time, finished, footer,
			exit_code, history_rows, history_keys, summary_json, size, mtime, state, reason, first_seen, changed_at, updated_at)
		SELECT ? || '/p' || (n / 1000) || '/wandb/offline-run-20250101_000000-r' || n,
			'offline-run-20250101_000000-r' || n,
			? || '/p' || (n / 1000) || '/wandb/offline-run-20250101_000000-r' || n || '/run-r' || n || '.wandb',
			'p' || (n / 1000) || '/r' || n, 'r' || n, 'p' || (n / 1000), ? + n, 1, 1, 0, 10, '["train/loss"]',
			'{"train/loss": ' || (1.0 + (n * 7919 % 100000) / 100000.0) || '}', 4096, ?,
			CASE WHEN n % 100 = 0 THEN 'failed' WHEN n % 10 = 0 THEN 'pending' ELSE 'synced' END,
			CASE WHEN n % 100 = 0 THEN 'upload failed: network' ELSE '' END, ?, ?, ?
		FROM i`,
		`INSERT INTO metrics (dir, key, goal, goal_source, count, last, min, max, mean)
		SELECT dir, 'train/loss', 'lower', 'rule', 10, 1.5, 1.0, 2.0, 1.5 FROM runs`,
	} {
		var args []any
		if strings.Contains(q, "RECURSIVE") {
			args = []any{n, root, root, now - 1e9, now - 3600e3, now, now, now}
		}
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("generate %d runs: %v", n, err)
		}
	}
}

// Every command a user runs on a big ledger works on 100,000 runs: none
// binds a variable per run or loads more than it prints. (How long each
// takes is measured by BenchmarkLargeLedger, not asserted here.)
func TestCommandsOnALedgerOf100kRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 100,000-run ledger")
	}
	const n = 100_000
	c := newShell(t)
	root := t.TempDir()
	largeLedger(t, c.env["RUNNER_DB"], root, n)
	check := func(want int, args ...string) string {
		t.Helper()
		t0 := time.Now()
		out, errOut, code := c.run(args...)
		t.Logf("runner %s: %s", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
		if code != want {
			t.Fatalf("runner %s: exit %d, want %d: %s", strings.Join(args, " "), code, want, errOut)
		}
		return out
	}

	var st struct {
		Runs map[string]int `json:"runs"`
	}
	// Exit 1: no daemon is running.
	if err := json.Unmarshal([]byte(check(1, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Runs["synced"] != 90_000 || st.Runs["pending"] != 9_000 || st.Runs["failed"] != 1_000 {
		t.Errorf("status runs = %v, want 90000 synced, 9000 pending, 1000 failed", st.Runs)
	}
	if out := check(0, "runs"); strings.Count(out, "\n") < n {
		t.Errorf("runs printed %d lines for %d runs", strings.Count(out, "\n"), n)
	}
	var failed []json.RawMessage
	if err := json.Unmarshal([]byte(check(0, "runs", "--state", "failed", "--json")), &failed); err != nil || len(failed) != 1_000 {
		t.Errorf("runs --state failed: %d runs (%v), want 1000", len(failed), err)
	}
	var lb struct {
		Goal string            `json:"goal"`
		Rows []json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal([]byte(check(0, "leaderboard", "--metric", "train/loss", "--top", "10", "--json")), &lb); err != nil {
		t.Fatal(err)
	}
	if lb.Goal != "lower" || len(lb.Rows) != 10 {
		t.Errorf("leaderboard: goal %q, %d rows, want lower and 10", lb.Goal, len(lb.Rows))
	}
	// A backfill's cost is its tree, not the ledger: one of a tree of one
	// new run, one of an empty tree (the ledger's dirs are not on disk;
	// only the daemon marks vanished runs missing, backfill never drops one).
	other := t.TempDir()
	writeRun(t, other, runSpec{id: "fresh1", project: "fresh", start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), losses: []float64{2, 1}})
	check(0, "backfill", other)
	if err := os.MkdirAll(filepath.Join(root, "p0"), 0o755); err != nil {
		t.Fatal(err)
	}
	check(0, "backfill", filepath.Join(root, "p0"))
	if err := json.Unmarshal([]byte(check(1, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Runs["pending"] != 9_001 {
		t.Errorf("after the backfills: %d runs pending, want 9001 (%v)", st.Runs["pending"], st.Runs)
	}
	if total := sum(st.Runs); total != n+1 {
		t.Errorf("ledger holds %d runs, want %d", total, n+1)
	}
	// A synced run cannot be skipped (exit 1); the answer is one read, however big the ledger.
	check(1, "skip", "--reason", "bulk", fmt.Sprintf("%s/p1/wandb/offline-run-20250101_000000-r1001", root))
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// BenchmarkLargeLedger times the commands of TestCommandsOnALedgerOf100kRuns
// on a ledger of 100,000 runs (README "Benchmarks"):
//
//	go test ./app -run '^$' -bench LargeLedger -benchtime 3x
func BenchmarkLargeLedger(b *testing.B) {
	const n = 100_000
	c := newShell(b)
	largeLedger(b, c.env["RUNNER_DB"], b.TempDir(), n)
	tree := benchTree(b, 100)
	if _, errOut, code := c.run("backfill", tree); code != 0 {
		b.Fatalf("first backfill: exit %d: %s", code, errOut)
	}
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"status", []string{"status", "--json"}},
		{"runs", []string{"runs"}},
		{"runs-failed", []string{"runs", "--state", "failed"}},
		{"leaderboard", []string{"leaderboard", "--metric", "train/loss", "--top", "10"}},
		{"backfill-100-runs-rerun", []string{"backfill", tree}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, errOut, code := c.run(bc.args...); code > 1 {
					b.Fatalf("runner %v: exit %d: %s", bc.args, code, errOut)
				}
			}
		})
	}
}
