package jobs

// runner update: changing what queued jobs ask for before they start, as
// Slurm's scontrol update does (docs/jobs.md "Changing queued jobs").

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnerhq/runner/ledger"
)

// UpdateStore is what an update needs from the ledger.
type UpdateStore interface {
	gpuSnapshotter
	UpdateQueuedJobs(ctx context.Context, ids []int64, u ledger.JobUpdate) ([]ledger.JobUpdated, error)
}

var _ UpdateStore = (*ledger.DB)(nil)

// ErrCannotUpdate: an update that cannot be made as asked (a job that is not
// queued, or not the local scheduler's); nothing was changed.
var ErrCannotUpdate = errors.New("nothing was changed")

// Update applies u to the queued jobs in list, all or none. A job that is
// running or ended, or that an engine (Slurm) queued, is refused naming it
// and its state; so is a GPU count the daemon's GPUs can never give,
// unless the job is (or becomes) held, as at submit.
func Update(ctx context.Context, db UpdateStore, list []ledger.Job, u ledger.JobUpdate) ([]ledger.JobUpdated, error) {
	ids := make([]int64, len(list))
	for i, j := range list {
		ids[i] = j.ID
		switch {
		case j.State != ledger.JobQueued:
			return nil, fmt.Errorf("job %d is %s: only queued jobs can be updated: %w", j.ID, j.State, ErrCannotUpdate)
		case j.Executor != ledger.ExecutorLocal:
			return nil, fmt.Errorf("job %d is queued in %s (job %s): update changes local jobs only: %w", j.ID, j.Executor, j.EngineID, ErrCannotUpdate)
		}
		if u.GPUs != nil && !heldAfter(j, u) {
			why, err := neverFits(ctx, db, *u.GPUs, j.GPUMem)
			if err != nil {
				return nil, err
			}
			if why != "" {
				return nil, fmt.Errorf("job %d would never run: %s (--hold keeps it queued anyway): %w", j.ID, why, ErrCannotUpdate)
			}
		}
	}
	out, err := db.UpdateQueuedJobs(ctx, ids, u)
	if errors.Is(err, ledger.ErrJobNotQueued) {
		// It started or ended since it was read.
		return nil, fmt.Errorf("%w: %w", err, ErrCannotUpdate)
	}
	return out, err
}

func heldAfter(j ledger.Job, u ledger.JobUpdate) bool {
	if u.Held != nil {
		return *u.Held
	}
	return j.Held
}
