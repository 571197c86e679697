package jobs

import (
	"context"
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
