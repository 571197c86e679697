package jobs

// The jobs view people look at every day (runner jobs): short by default,
// with the rule that made it short said (docs/design.md "The jobs view").

import (
	"context"
	"fmt"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// RecentEnded is how long an ended job stays in the default view.
const RecentEnded = 24 * time.Hour

// ViewStore is what the jobs view reads.
type ViewStore interface {
	DaemonStater
	ListJobs(ctx context.Context, f ledger.JobFilter) ([]ledger.Job, error)
	CountJobs(ctx context.Context, f ledger.JobFilter) (int, error)
	GetJob(ctx context.Context, id int64) (ledger.Job, error)
}

// View is one look at the queue.
type View struct {
	Filter ledger.JobFilter
	// All: every job; else, unless Filter names states, jobs that ended
	// more than RecentEnded ago are left out (and counted).
	All bool
	Now time.Time
}

// ViewResult is the jobs shown, and how many ended ones the default
// window left out.
type ViewResult struct {
	Jobs   []ledger.Job
	Hidden int
}

// windowed reports whether the default window applies: an explicit
// --state asks for those jobs however old.
func (v View) windowed() bool { return !v.All && len(v.Filter.States) == 0 }

// List reads the view: the filters run in SQL, the window too (so the
// default view reads only the live and recent jobs), and queued jobs show
// what blocks the queue (ShowBlock).
func List(ctx context.Context, db ViewStore, v View) (ViewResult, error) {
	f := v.Filter
	var r ViewResult
	if v.windowed() {
		since := v.Now.Add(-RecentEnded)
		f.EndedSince = since
		old := v.Filter
		old.EndedBefore = since
		old.Ended = true // a retried job may keep an ended_at
		n, err := db.CountJobs(ctx, old)
		if err != nil {
			return r, err
		}
		r.Hidden = n
	}
	list, err := db.ListJobs(ctx, f)
	if err != nil {
		return r, err
	}
	block, err := QueueBlock(ctx, db, v.Now)
	if err != nil {
		return r, err
	}
	ShowBlock(list, block)
	r.Jobs = list
	return r, nil
}

// OneOf is One for a job as typed: its id, or an array task as Slurm
// names it (17_5, ParseTaskID). A bad one is a Refusal.
func OneOf(ctx context.Context, db ViewStore, arg string, now time.Time) (ledger.Job, error) {
	array, index, task := ParseTaskID(arg)
	if !task {
		id, err := ParseJobID(arg)
		if err != nil {
			return ledger.Job{}, &Refusal{Err: err}
		}
		return One(ctx, db, id, now)
	}
	list, err := db.ListJobs(ctx, ledger.JobFilter{ArrayIDs: []int64{array}, ArrayIndexes: []int64{index}})
	if err != nil {
		return ledger.Job{}, err
	}
	if len(list) == 0 {
		return ledger.Job{}, fmt.Errorf("job %s: not found (array %d has no task with index %d)", arg, array, index)
	}
	return One(ctx, db, list[0].ID, now)
}

// One is job id as the view shows it (runner jobs ID).
func One(ctx context.Context, db ViewStore, id int64, now time.Time) (ledger.Job, error) {
	j, err := db.GetJob(ctx, id)
	if err != nil {
		return j, err
	}
	block, err := QueueBlock(ctx, db, now)
	if err != nil {
		return j, err
	}
	one := []ledger.Job{j}
	ShowBlock(one, block)
	return one[0], nil
}
