package jobs

// What the queue as a whole waits for, as people see it: a queued job's own
// reason (GPUs, dependencies) means nothing while no daemon runs to start it
// (docs/design.md "Why a queued job waits").

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// The reasons shown for a queued job while the whole queue cannot start any.
const (
	ReasonDaemonDown  = "daemon down"
	ReasonQueuePaused = "queue paused"
)

// ErrQueueAdmin: pause and resume hold or free every user's jobs, so
// through the daemon's socket only root runs them.
var ErrQueueAdmin = errors.New("only root may pause or resume the queue of every user (sudo runner pause|resume)")

// DaemonStater reads what decides whether the queue runs: the daemon's
// heartbeat row and the queue's pause.
type DaemonStater interface {
	DaemonState(ctx context.Context) (*ledger.Daemon, error)
	QueuePaused(ctx context.Context) (bool, error)
}

// QueueBlock says why no queued local job can start now, "" when the queue
// runs: ReasonDaemonDown when no daemon is live (ledger.Daemon.Live), else
// ReasonQueuePaused after runner pause.
func QueueBlock(ctx context.Context, db DaemonStater, now time.Time) (string, error) {
	d, err := db.DaemonState(ctx)
	if err != nil {
		return "", err
	}
	paused, err := db.QueuePaused(ctx)
	if err != nil {
		return "", err
	}
	return blockOf(d, paused, now), nil
}

func blockOf(d *ledger.Daemon, paused bool, now time.Time) string {
	switch {
	case !d.Live(now):
		return ReasonDaemonDown
	case paused:
		return ReasonQueuePaused
	}
	return ""
}

// ShowBlock sets the reason of every queued, not held, local job of list to
// block (nothing when block is ""): what it waits for first. Held jobs keep
// theirs (they wait for a release), and an engine's jobs run without the daemon.
func ShowBlock(list []ledger.Job, block string) {
	if block == "" {
		return
	}
	for i, j := range list {
		if j.State == ledger.JobQueued && !j.Held && j.Executor == ledger.ExecutorLocal {
			list[i].Reason = block
		}
	}
}

// blockNotice is the line submit prints when the jobs it queued cannot
// start (block is QueueBlock's answer).
func blockNotice(list []ledger.Job, block string) string {
	what := fmt.Sprintf("job %d is", list[0].ID)
	if len(list) > 1 {
		what = fmt.Sprintf("jobs %d-%d are", list[0].ID, list[len(list)-1].ID)
	}
	if block == ReasonDaemonDown {
		return fmt.Sprintf("runner: no daemon is running: %s queued, but nothing will start until `runner daemon` runs", what)
	}
	return fmt.Sprintf("runner: %s queued, but nothing will start: %s (runner resume)", what, block)
}
