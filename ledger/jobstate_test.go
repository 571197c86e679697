package ledger_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// Every (event, state) pair of jobs, written out apart from ledger.JobMoves.
var wantJobMoves = map[ledger.JobEvent]map[ledger.JobState]ledger.JobState{
	ledger.JobSubmitted:      {ledger.JobNew: ledger.JobQueued},
	ledger.JobStarted:        {ledger.JobQueued: ledger.JobRunning},
	ledger.JobExitedOK:       {ledger.JobRunning: ledger.JobSucceeded},
	ledger.JobExitedFailed:   {ledger.JobRunning: ledger.JobFailed},
	ledger.JobVanished:       {ledger.JobRunning: ledger.JobLost},
	ledger.JobRetried:        {ledger.JobRunning: ledger.JobQueued},
	ledger.JobCancelledEv:    {ledger.JobQueued: ledger.JobCancelled, ledger.JobRunning: ledger.JobCancelled},
	ledger.JobDependencyFail: {ledger.JobQueued: ledger.JobSkipped},
	ledger.JobRequeued: {ledger.JobSucceeded: ledger.JobQueued, ledger.JobFailed: ledger.JobQueued,
		ledger.JobCancelled: ledger.JobQueued, ledger.JobSkipped: ledger.JobQueued, ledger.JobLost: ledger.JobQueued},
	ledger.JobRefused: {ledger.JobQueued: ledger.JobFailed},
}

func TestJobTransitionTable(t *testing.T) {
	walkTable(t, ledger.JobMoves, wantJobMoves, append([]ledger.JobState{ledger.JobNew}, ledger.AllJobStates...), ledger.NextJobState)
}

// Every job event from every stored state, through the ledger's API.
func TestJobEventsThroughTheLedger(t *testing.T) {
	ctx := context.Background()
	zero, one := 0, 1
	type driver func(db *ledger.DB, id int64) (changed bool, err error)
	end := func(e ledger.JobEnd) driver {
		return func(db *ledger.DB, id int64) (bool, error) {
			_, ok, err := db.EndJob(ctx, id, e)
			return ok, err
		}
	}
	drivers := map[ledger.JobEvent]driver{
		ledger.JobStarted: func(db *ledger.DB, id int64) (bool, error) {
			_, ok, err := db.StartJob(ctx, id, ledger.JobStart{})
			return ok, err
		},
		ledger.JobExitedOK:     end(ledger.JobEnd{ExitCode: &zero}),
		ledger.JobExitedFailed: end(ledger.JobEnd{ExitCode: &one}),
		ledger.JobVanished:     end(ledger.JobEnd{Lost: true}),
		ledger.JobCancelledEv: func(db *ledger.DB, id int64) (bool, error) {
			if _, err := db.CancelJob(ctx, id); err != nil {
				return false, err
			}
			// A running job ends cancelled once its processes are stopped.
			_, _, err := db.EndJob(ctx, id, ledger.JobEnd{Reason: "cancelled"})
			return true, err
		},
		ledger.JobDependencyFail: func(db *ledger.DB, id int64) (bool, error) {
			return db.SkipJob(ctx, id, "job 1 failed")
		},
		ledger.JobRefused: func(db *ledger.DB, id int64) (bool, error) {
			ids, err := db.RefuseJobs(ctx, []int64{id}, "sbatch: error: invalid partition")
			return len(ids) > 0, err
		},
		ledger.JobRequeued: func(db *ledger.DB, id int64) (bool, error) {
			ids, err := db.RequeueJob(ctx, id, false)
			return len(ids) > 0, err
		},
	}
	for _, m := range ledger.JobMoves {
		if m.Event == ledger.JobSubmitted || m.Event == ledger.JobRetried {
			continue // submit: every other test; retried: TestJobLifecycleRetriesAndEvents
		}
		do := drivers[m.Event]
		for _, from := range ledger.AllJobStates {
			t.Run(fmt.Sprintf("%s from %s", m.Event, from), func(t *testing.T) {
				db, _ := openTemp(t)
				j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}})
				if err != nil {
					t.Fatal(err)
				}
				// attempts 1 of retries 0: an end is final, not a retry.
				rawExec(t, db.Path(), `UPDATE jobs SET state = ?, attempts = 1 WHERE id = ?`, string(from), j.ID)
				changed, err := do(db, j.ID)
				got, gerr := db.GetJob(ctx, j.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				to, legal := wantJobMoves[m.Event][from]
				if !legal {
					if changed && err == nil || got.State != from {
						t.Errorf("illegal move: changed %v, err %v, state %s", changed, err, got.State)
					}
					return
				}
				if err != nil || got.State != to {
					t.Errorf("legal move: err %v, state %s, want %s", err, got.State, to)
				}
			})
		}
	}
}

// The README's table of job states is the transition table, rendered.
func TestReadmeJobStatesMatchTheTable(t *testing.T) {
	b, err := os.ReadFile("../docs/jobs.md")
	if err != nil {
		t.Fatal(err)
	}
	if table := ledger.JobStateTable(); !strings.Contains(string(b), table) {
		t.Errorf("docs/jobs.md does not hold the job transition table as ledger.JobStateTable renders it:\n%s", table)
	}
}
