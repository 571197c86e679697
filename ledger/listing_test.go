package ledger_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// A table laid out in two passes (widths, then rows) reads one snapshot:
// a run recorded between the passes is in neither; the next listing has it.
func TestRunPassesReadOneSnapshot(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	root := t.TempDir()
	mustUpsert(t, db, observe(root, "offline-run-a", "aaaa", t0), observe(root, "offline-run-b", "bbbb", t0.Add(time.Hour)))
	var passes [][]string
	err := db.RunPasses(ctx, ledger.Filter{Lean: true}, func(pass func(func(ledger.Run) error) error) error {
		for i := range 2 {
			var dirs []string
			if err := pass(func(r ledger.Run) error {
				dirs = append(dirs, filepath.Base(r.Dir))
				return nil
			}); err != nil {
				return err
			}
			passes = append(passes, dirs)
			if i == 0 {
				mustUpsert(t, db, observe(root, "offline-run-c", "cccc", t0.Add(2*time.Hour)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"offline-run-a", "offline-run-b"}
	if !slices.Equal(passes[0], want) || !slices.Equal(passes[1], want) {
		t.Errorf("passes %v, want %v twice", passes, want)
	}
	if all, err := db.ListRuns(ctx, ledger.Filter{Lean: true}); err != nil || len(all) != 3 {
		t.Errorf("listing after the passes: %d runs, %v; want 3", len(all), err)
	}
}

// A lean listing of every run (runner runs, --json) reads the covering
// index alone, never the wide rows; a project's, its own index, in order.
func TestLeanListingReadsAnIndexOnly(t *testing.T) {
	db, _ := openTemp(t)
	path := db.Path()
	for _, tc := range []struct {
		f    ledger.Filter
		want string
	}{
		{ledger.Filter{Lean: true}, "SCAN runs USING COVERING INDEX runs_listing"},
		{ledger.Filter{}, "SCAN runs USING INDEX runs_listing"},
		{ledger.Filter{Lean: true, Project: "p"}, "SEARCH runs USING INDEX runs_project (project=?)"},
	} {
		t.Run(fmt.Sprintf("%+v", tc.f), func(t *testing.T) {
			q, args := ledger.ListingQuery(tc.f)
			rows, err := raw(t, path).Query("EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if got := strings.Join(plan, "; "); !strings.Contains(got, tc.want) || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q, want %q and no sort", got, tc.want)
			}
		})
	}
}

// leanOf is the part of r that a lean listing fills in (runLeanCols).
func leanOf(r ledger.Run) ledger.Run {
	return ledger.Run{Dir: r.Dir, GroupKey: r.GroupKey, Meta: ledger.Meta{RunID: r.RunID, Entity: r.Entity,
		Project: r.Project, Name: r.Name, Group: r.Group, JobType: r.JobType, StartTime: r.StartTime,
		WandbVersion: r.WandbVersion, Finished: r.Finished, ExitCode: r.ExitCode, TornTail: r.TornTail,
		ReadError: r.ReadError}, Size: r.Size, State: r.State, Reason: r.Reason, Source: r.Source,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, URL: r.URL,
		SyncedAt: r.SyncedAt, JobID: r.JobID, FirstSeen: r.FirstSeen}
}

// A lean listing (read as one JSON array a row) gives every listed field
// as the row holds it: strings that JSON escapes, invalid UTF-8, NUL,
// empty and absent values, negative and large numbers.
func TestLeanListingIsTheRow(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	root := t.TempDir()
	odd := []string{"", "plain", `a"b\c`, "tab\tnew\nline\r\b\f\x00\x01\x1f\x7f", "<&>'/", "é λ 😀 \u2028",
		"\xff\xfe bad\xc3", `\u0041`, `"`, `\`, "[1,2]", "null", ","}
	for i, s := range odd {
		o := observe(root, fmt.Sprintf("offline-run-%02d", i), fmt.Sprintf("id%02d", i), t0.Add(time.Duration(i)*time.Hour))
		o.Dir += s
		m := o.Meta
		m.RunID, m.Entity, m.Project, m.Name, m.Group, m.JobType, m.WandbVersion, m.ReadError = s, s+"e", s+"p", "n"+s, s, s, s, s
		if i%2 == 0 {
			m.StartTime = nil
		}
		mustUpsert(t, db, o)
		path := db.Path()
		var exit, next, job any // NULL in odd rows
		if i%2 == 0 {
			exit, next, job = -i-1, int64(-1)<<40+int64(i), int64(1)<<62+int64(i)
		}
		rawExec(t, path, `UPDATE runs SET reason = ?, last_error = ?, url = ?, source = 'upload', exit_code = ?,
			next_attempt_at = ?, job_id = ?, synced_at = ?, attempts = ?, size = ?, finished = ?, torn_tail = ? WHERE dir = ?`,
			s+"r", "e"+s, s, exit, next, job, next, i, int64(1)<<50-int64(i), i%2, 1-i%2, o.Dir)
	}
	got, err := db.ListRuns(ctx, ledger.Filter{Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(odd) {
		t.Fatalf("%d runs listed, want %d", len(got), len(odd))
	}
	for _, r := range got {
		if want := leanOf(mustGet(t, db, r.Dir)); !reflect.DeepEqual(r, want) {
			t.Errorf("lean listing\n%+v\nthe row\n%+v", r, want)
		}
	}
}
