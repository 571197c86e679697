package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnerhq/runner/ledger"
)

// JobCanceller records a job's cancel.
type JobCanceller interface {
	CancelJob(ctx context.Context, id int64) (ledger.Job, error)
}

var _ JobCanceller = (*ledger.DB)(nil)

// Cancel cancels job j and says through say what happened to it (a line
// before a wait, so the user sees why it takes the grace). An
// engine's job is stopped there first (as the user as names), then
// recorded; a running local job is the daemon's to stop, or, with the
// daemon down (daemonRunning false), stopped here.
func Cancel(ctx context.Context, db JobCanceller, j ledger.Job, daemonRunning bool, as func() (*User, error), say func(string)) (err error) {
	id := j.ID
	onEngine := j.Executor != ledger.ExecutorLocal && j.EngineID != "" && !j.State.Ended()
	if onEngine {
		user, err := as()
		if err == nil {
			err = CancelOnEngine(ctx, j, user)
		}
		if err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
	}
	j, err = db.CancelJob(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	switch {
	case j.State == ledger.JobCancelled:
		say(fmt.Sprintf("job %d cancelled", id))
		return nil
	case onEngine:
		say(fmt.Sprintf("job %d: cancelled in %s (job %s); the daemon records its end", id, j.Executor, j.EngineID))
		return nil
	case daemonRunning:
		say(fmt.Sprintf("job %d: cancel requested; the daemon stops its processes (SIGTERM, then SIGKILL)", id))
		return nil
	}
	if j.PID == 0 || !Alive(j.PID, j.StartTicks) {
		say(fmt.Sprintf("job %d: cancel recorded; its process is gone (the daemon is down and records the end when it is back)", j.ID))
		return nil
	}
	say(fmt.Sprintf("job %d: the daemon is down; stopping its processes (SIGTERM, then SIGKILL after %s)", j.ID, DefaultGrace))
	if err := Terminate(j.PGID, DefaultGrace); err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("cancel job %d: %w", j.ID, err)
	}
	say(fmt.Sprintf("job %d stopped; the daemon records it cancelled when it is back", j.ID))
	return nil
}
