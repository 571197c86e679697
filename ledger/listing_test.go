package ledger_test

import (
	"context"
	"fmt"
	"path/filepath"
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
