package reports

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// goPathCandidates are a project's baseline candidates as they were made
// before ledger.BaselineRuns: every run read whole, its summary parsed.
func goPathCandidates(t *testing.T, db *ledger.DB, project string) []kernels.Candidate {
	t.Helper()
	peers, err := db.ListRuns(context.Background(), ledger.Filter{Project: project})
	if err != nil {
		t.Fatal(err)
	}
	var out []kernels.Candidate
	for _, g := range groupRuns(peers) {
		if g.Runs[0].Project == project {
			out = append(out, g.candidate())
		}
	}
	return out
}

func sameBaselines(t *testing.T, db *ledger.DB, when string) {
	t.Helper()
	metrics := []string{"eval/nrmse", "eval/custom", "eval.nrmse", "train/loss", "absent"}
	for _, project := range []string{"p0", "p1", "p2", "none"} {
		want := goPathCandidates(t, db, project)
		got, err := projectCandidates(context.Background(), db, project, metrics)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: project %s: %d candidates, want %d", when, project, len(got), len(want))
		}
		for _, target := range want {
			for _, m := range metrics {
				for _, n := range []int{1, 3, 0} {
					g, w := kernels.SelectBaseline(target, m, got, n), kernels.SelectBaseline(target, m, want, n)
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("%s: baseline of %s for %s (n %d):\n got %+v\nwant %+v", when, target.RunID, m, n, g, w)
					}
				}
			}
		}
	}
}

// The baselines picked from the ledger's summary values are those picked
// from every run's parsed summary: NaN and Inf left out, stages merged,
// nested keys; also while another writer has left groups stale (the
// summaries are then read) and once they are indexed again.
func TestBaselinesMatchTheGoPath(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			db := randomLedger(t, seed, 60)
			// Only finished runs are a baseline: most runs become ready.
			runs, err := db.ListRuns(context.Background(), ledger.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range runs {
				if i%4 != 0 && r.State == ledger.StateActive {
					if err := db.MarkReady(context.Background(), r.Dir, "test"); err != nil {
						t.Fatal(err)
					}
				}
			}
			sameBaselines(t, db, "recorded")

			raw, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: db.Path()}).String()+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`UPDATE runs SET summary_json = '{"eval/nrmse": 0.2, "train/loss": -0.0}' WHERE rowid % 7 = 0`); err != nil {
				t.Fatal(err)
			}
			sameBaselines(t, db, "changed by another writer")
			sameBaselines(t, ledgertest.Open(t, db.Path(), ledger.Options{}), "indexed again")
		})
	}
}
