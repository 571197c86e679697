package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// MarkMissingMany moves, in one call, every named run that the table lets
// vanish (RunVanished: active, pending, failed), however many, logs
// "from -> missing" for each, and leaves runs in other states and dirs the
// ledger does not know alone, as MarkMissing would one at a time.
func TestMarkMissingMany(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		active int            // runs left active
		others []ledger.State // one run forced into each
		extra  []string       // named dirs that are no run
	}{
		{name: "one active run", active: 1},
		{name: "more active runs than one statement takes", active: 1234},
		{name: "one run in every state", others: ledger.AllStates},
		{name: "a dir the ledger does not know", active: 2, extra: []string{"/nowhere/offline-run-x"}},
		{name: "nothing named"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTemp(t)
			root := t.TempDir()
			var obs []ledger.Observation
			for i := range tt.active + len(tt.others) {
				obs = append(obs, observe(root, fmt.Sprintf("offline-run-%05d", i), fmt.Sprintf("r%05d", i), t0))
			}
			if len(obs) > 0 {
				mustUpsert(t, db, obs...)
			}
			before := map[string]ledger.State{}
			var want, named []string
			for i, o := range obs {
				st := ledger.StateActive
				if i >= tt.active {
					st = tt.others[i-tt.active]
					forceState(t, db, o.Dir, st)
				}
				before[o.Dir] = st
				named = append(named, o.Dir)
				if _, ok := wantRunMoves[ledger.RunVanished][st]; ok {
					want = append(want, o.Dir)
				}
			}
			named = append(named, tt.extra...)
			evBefore, err := db.Events(ctx, []string{"run.state"}, 0)
			if err != nil {
				t.Fatal(err)
			}

			moved, err := db.MarkMissingMany(ctx, named)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(moved)
			if !slices.Equal(moved, want) {
				t.Errorf("moved %d dirs, want %d: %v", len(moved), len(want), moved)
			}
			for _, o := range obs {
				got := mustGet(t, db, o.Dir)
				wantState := before[o.Dir]
				if slices.Contains(want, o.Dir) {
					wantState = ledger.StateMissing
				}
				if got.State != wantState {
					t.Errorf("%s (%s) is %s, want %s", o.Dir, before[o.Dir], got.State, wantState)
				}
			}
			evAfter, err := db.Events(ctx, []string{"run.state"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			logged := map[string]string{}
			for _, ev := range evAfter[:len(evAfter)-len(evBefore)] {
				logged[ev.Subject] = ev.Message
			}
			for _, dir := range want {
				if w := fmt.Sprintf("%s -> missing: run dir vanished before upload", before[dir]); logged[dir] != w {
					t.Errorf("event of %s: %q, want %q", dir, logged[dir], w)
				}
			}
			if len(logged) != len(want) {
				t.Errorf("%d runs logged a state change, want %d", len(logged), len(want))
			}
		})
	}
}
