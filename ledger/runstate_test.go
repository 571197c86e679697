package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// The expected outcome of every (event, state) pair, written out by hand
// apart from ledger.RunMoves: a change to the table must change this too.
// A missing entry means the event is refused in that state.
var wantRunMoves = map[ledger.RunEvent]map[ledger.State]ledger.State{
	ledger.RunObserved:     {ledger.StateNew: ledger.StateActive},
	ledger.RunEmpty:        {ledger.StateNew: ledger.StateSkipped},
	ledger.RunMarkerFound:  {ledger.StateNew: ledger.StateSynced, ledger.StateActive: ledger.StateSynced, ledger.StatePending: ledger.StateSynced, ledger.StateFailed: ledger.StateSynced, ledger.StateMissing: ledger.StateSynced},
	ledger.RunGrew:         {ledger.StatePending: ledger.StateActive, ledger.StateSkipped: ledger.StateActive},
	ledger.RunReturned:     {ledger.StateMissing: ledger.StateActive},
	ledger.RunFinished:     {ledger.StateActive: ledger.StatePending},
	ledger.RunClaimed:      {ledger.StatePending: ledger.StateUploading},
	ledger.RunUploaded:     {ledger.StateUploading: ledger.StateSynced},
	ledger.RunUploadFailed: {ledger.StateUploading: ledger.StatePending},
	ledger.RunGaveUp:       {ledger.StateUploading: ledger.StateFailed},
	ledger.RunReleased:     {ledger.StateUploading: ledger.StatePending},
	ledger.RunLeaseExpired: {ledger.StateUploading: ledger.StatePending},
	ledger.RunVanished:     {ledger.StateActive: ledger.StateMissing, ledger.StatePending: ledger.StateMissing, ledger.StateFailed: ledger.StateMissing},
	ledger.RunSkipped:      {ledger.StateActive: ledger.StateSkipped, ledger.StatePending: ledger.StateSkipped, ledger.StateFailed: ledger.StateSkipped, ledger.StateMissing: ledger.StateSkipped},
	ledger.RunRetried:      {ledger.StateFailed: ledger.StatePending, ledger.StatePending: ledger.StatePending},
	ledger.RunUnskipped:    {ledger.StateSkipped: ledger.StateActive},
	ledger.RunForced:       {ledger.StateActive: ledger.StatePending},
}

var everyRunState = append([]ledger.State{ledger.StateNew}, ledger.AllStates...)

func TestRunTransitionTable(t *testing.T) {
	walkTable(t, ledger.RunMoves, wantRunMoves, everyRunState, ledger.NextRunState)
}

// Every event, from every stored state, through the ledger's own API: a
// legal move lands where the table says and logs "from -> to"; an illegal
// one changes nothing and logs nothing (an error for calls about one run).
func TestRunEventsThroughTheLedger(t *testing.T) {
	ctx := context.Background()
	type driver struct {
		// do applies the event to dir; the error of an illegal move is
		// checked by refused.
		do      func(t *testing.T, db *ledger.DB, o ledger.Observation) error
		refused func(error) bool
	}
	single := func(err error) bool { return errors.Is(err, ledger.ErrIllegalMove) }
	leased := func(err error) bool { return errors.Is(err, ledger.ErrLeaseLost) }
	quiet := func(err error) bool { return err == nil } // a call about many: moves none
	complete := func(r ledger.Result) func(*testing.T, *ledger.DB, ledger.Observation) error {
		return func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			r.StartedAt = time.Now()
			return db.Complete(ctx, "w1", []string{o.Dir}, r)
		}
	}
	upsert := func(change func(*ledger.Observation)) func(*testing.T, *ledger.DB, ledger.Observation) error {
		return func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			change(&o)
			_, err := db.UpsertRuns(ctx, []ledger.Observation{o})
			return err
		}
	}
	drivers := map[ledger.RunEvent]driver{
		ledger.RunFinished: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			return db.MarkReady(ctx, o.Dir, "exit record seen")
		}, single},
		ledger.RunVanished: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			return db.MarkMissing(ctx, o.Dir)
		}, single},
		ledger.RunSkipped: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			_, err := db.Skip(ctx, []string{o.Dir}, "not wanted")
			return err
		}, quiet},
		ledger.RunRetried: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			_, err := db.Retry(ctx, []string{o.Dir})
			return err
		}, quiet},
		ledger.RunClaimed: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			_, err := db.Claim(ctx, "w2", time.Minute, []string{o.Dir})
			return err
		}, quiet},
		ledger.RunReleased: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			return db.Release(ctx, "w1", []string{o.Dir})
		}, leased},
		ledger.RunLeaseExpired: {func(t *testing.T, db *ledger.DB, o ledger.Observation) error {
			rawExec(t, db.Path(), `UPDATE runs SET lease_expires_at = 1 WHERE dir = ? AND state = 'uploading'`, o.Dir)
			_, err := db.RescueExpired(ctx)
			return err
		}, quiet},
		ledger.RunUploaded:     {complete(ledger.Result{Outcome: ledger.OutcomeSuccess, URL: "https://wandb.ai/e/p/runs/r1"}), leased},
		ledger.RunUploadFailed: {complete(ledger.Result{Outcome: ledger.OutcomeTransient, Error: "dial tcp", CountAttempt: true, MaxAttempts: 8}), leased},
		ledger.RunGaveUp:       {complete(ledger.Result{Outcome: ledger.OutcomeOther, Error: "marker", CountAttempt: true, GiveUp: true}), leased},
		ledger.RunMarkerFound:  {upsert(func(o *ledger.Observation) { o.MarkerExists = true }), quiet},
		ledger.RunReturned:     {upsert(func(o *ledger.Observation) {}), quiet},
		ledger.RunGrew:         {upsert(func(o *ledger.Observation) { o.Size += 100; o.MTime = o.MTime.Add(time.Second) }), quiet},
		ledger.RunUnskipped: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			_, err := db.Unskip(ctx, []string{o.Dir})
			return err
		}, quiet},
		ledger.RunForced: {func(_ *testing.T, db *ledger.DB, o ledger.Observation) error {
			return db.Force(ctx, o.Dir)
		}, single},
	}
	for _, m := range ledger.RunMoves {
		if slices.Equal(m.From, []ledger.State{ledger.StateNew}) {
			continue // first sight: TestUpsertFirstSight
		}
		d, ok := drivers[m.Event]
		if !ok {
			t.Errorf("no driver for event %s", m.Event)
			continue
		}
		for _, from := range ledger.AllStates {
			if m.Event == ledger.RunGrew && from == ledger.StateMissing {
				continue // a grown missing run is "returned", tested there
			}
			t.Run(fmt.Sprintf("%s from %s", m.Event, from), func(t *testing.T) {
				db, _ := openTemp(t)
				o := observe(t.TempDir(), "offline-run-1", "r1", t0)
				mustUpsert(t, db, o)
				forceState(t, db, o.Dir, from)
				before := mustGet(t, db, o.Dir)
				evBefore, _ := db.Events(ctx, []string{"run.state"}, 0)

				err := d.do(t, db, o)
				after := mustGet(t, db, o.Dir)
				evAfter, _ := db.Events(ctx, []string{"run.state"}, 0)
				to, legal := wantRunMoves[m.Event][from]
				if !legal {
					if !d.refused(err) {
						t.Errorf("illegal move: error %v", err)
					}
					if after.State != from || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Errorf("illegal move changed the run: state %s, updated %v -> %v", after.State, before.UpdatedAt, after.UpdatedAt)
					}
					if len(evAfter) != len(evBefore) {
						t.Errorf("illegal move logged an event: %+v", evAfter[0])
					}
					return
				}
				if err != nil {
					t.Fatalf("legal move: %v", err)
				}
				if after.State != to {
					t.Fatalf("state %s, want %s", after.State, to)
				}
				if from != to {
					want := fmt.Sprintf("%s -> %s: ", from, to)
					if len(evAfter) != len(evBefore)+1 || !strings.HasPrefix(evAfter[0].Message, want) {
						t.Errorf("events %+v, want one more starting %q", evAfter, want)
					}
				}
				if to != ledger.StateUploading && after.LeaseOwner != "" {
					t.Errorf("lease %q kept after leaving uploading", after.LeaseOwner)
				}
			})
		}
	}
}

// forceState puts a run in a state with raw SQL, with what that state
// carries: a lease of w1 for uploading, the automatic reason for skipped,
// no backoff (so a pending run is claimable).
func forceState(t *testing.T, db *ledger.DB, dir string, s ledger.State) {
	t.Helper()
	lease, owner, reason := any(nil), "", ""
	switch s {
	case ledger.StateUploading:
		lease, owner = time.Now().Add(time.Hour).UnixMilli(), "w1"
	case ledger.StateSkipped:
		reason = "empty log: nothing to upload"
	}
	rawExec(t, db.Path(), `UPDATE runs SET state = ?, lease_owner = ?, lease_expires_at = ?, reason = ?,
		next_attempt_at = NULL WHERE dir = ?`, string(s), owner, lease, reason, dir)
}

// First sight: a new dir is active, synced by its marker, or skipped empty.
func TestUpsertFirstSight(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*ledger.Observation)
		want   ledger.State
	}{
		{"observed", func(o *ledger.Observation) {}, ledger.StateActive},
		{"marker found", func(o *ledger.Observation) { o.MarkerExists = true }, ledger.StateSynced},
		{"empty", func(o *ledger.Observation) { o.Meta.Empty = true }, ledger.StateSkipped},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTemp(t)
			o := observe(t.TempDir(), "offline-run-1", "r1", t0)
			tt.change(&o)
			if r := mustUpsert(t, db, o); r[0].State != tt.want {
				t.Errorf("new run is %s, want %s", r[0].State, tt.want)
			}
		})
	}
}

// The README's table of run states is the transition table, rendered.
func TestReadmeRunStatesMatchTheTable(t *testing.T) {
	b, err := os.ReadFile("../docs/runs.md")
	if err != nil {
		t.Fatal(err)
	}
	if table := ledger.RunStateTable(); !strings.Contains(string(b), table) {
		t.Errorf("docs/runs.md does not hold the run transition table as ledger.RunStateTable renders it:\n%s", table)
	}
}
