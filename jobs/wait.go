package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// JobLister reads jobs by id or array.
type JobLister interface {
	JobGetter
	ListJobs(ctx context.Context, f ledger.JobFilter) ([]ledger.Job, error)
}

var _ JobLister = (*ledger.DB)(nil)

// ExpandArrays replaces each array id among ids by its jobs, in index
// order; other ids stay. An unknown id wraps ledger.ErrNotFound.
func ExpandArrays(ctx context.Context, db JobLister, ids []int64) ([]ledger.Job, error) {
	var out []ledger.Job
	for _, id := range ids {
		j, err := db.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.ArrayID != j.ID {
			out = append(out, j)
			continue
		}
		members, err := db.ListJobs(ctx, ledger.JobFilter{ArrayIDs: []int64{id}})
		if err != nil {
			return nil, err
		}
		out = append(out, members...)
	}
	return out, nil
}

// WaitEnded polls the ledger until every job in list has ended and returns
// them as they ended, in the same order; timeout 0 waits for ever.
func WaitEnded(ctx context.Context, db JobLister, list []ledger.Job, timeout, every time.Duration) ([]ledger.Job, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ids := make([]int64, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	for {
		now, err := db.ListJobs(ctx, ledger.JobFilter{IDs: ids})
		if err != nil {
			return nil, err
		}
		byID := map[int64]ledger.Job{}
		done := true
		for _, j := range now {
			byID[j.ID] = j
			done = done && j.State.Ended()
		}
		if done {
			out := make([]ledger.Job, len(list))
			for i, j := range list {
				out[i] = byID[j.ID]
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

// WaitStore is what SubmitWait reads.
type WaitStore interface {
	JobLister
	DaemonStater
}

// ErrWillNotStart: submit --wait of a job nothing will start (QueueBlock).
var ErrWillNotStart = errors.New("will not start")

// SubmitWait is submit --wait once list is queued: a single job's output
// is copied to w as it runs (an array is only waited for), then the jobs
// are waited for (WaitEnded). A job nothing will start (the daemon down,
// the queue paused) fails at once rather than hang; timeout 0 waits for
// ever (its end is context.DeadlineExceeded).
func SubmitWait(ctx context.Context, w io.Writer, db WaitStore, list []ledger.Job, inArray bool, timeout, every time.Duration, now time.Time) ([]ledger.Job, error) {
	if block, err := QueueBlock(ctx, db, now); err != nil {
		return nil, err
	} else if block != "" {
		return nil, fmt.Errorf("submit --wait: job %d is queued but %w (%s); start `runner daemon`, then `runner wait %d`",
			list[0].ID, ErrWillNotStart, block, cmp.Or(list[0].ArrayID, list[0].ID))
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if !inArray {
		if _, err := Logs(ctx, w, db, list[0].ID, LogsOptions{Follow: true, Every: every}); err != nil && ctx.Err() == nil {
			return nil, err
		}
	}
	return WaitEnded(ctx, db, list, 0, every)
}
