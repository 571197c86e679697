package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/units"
)

// ErrJobNotQueued: runner update of a job that is running or ended.
var ErrJobNotQueued = errors.New("only queued jobs can be updated")

// JobUpdate is what runner update changes on queued jobs; a nil field is
// left as it is.
type JobUpdate struct {
	Priority *int
	GPUs     *int
	CPUs     *int // -1: the default for the job's kind
	Timeout  *time.Duration
	Held     *bool
}

// Empty reports whether u changes nothing.
func (u JobUpdate) Empty() bool {
	return u.Priority == nil && u.GPUs == nil && u.CPUs == nil && u.Timeout == nil && u.Held == nil
}

// JobUpdated is one job as it was before an update and as it is after.
type JobUpdated struct{ Before, After Job }

// UpdateQueuedJobs applies u to the jobs ids in one transaction: all or
// none. An unknown id wraps ErrNotFound; a job that is not queued wraps
// ErrJobNotQueued, naming it and its state. Its state never changes here:
// the job stays queued with its new resources, and the scheduler sees the
// rows move through jobs_seq.
func (db *DB) UpdateQueuedJobs(ctx context.Context, ids []int64, u JobUpdate) ([]JobUpdated, error) {
	var out []JobUpdated
	var timeout any
	if u.Timeout != nil {
		timeout = u.Timeout.Milliseconds()
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		out = out[:0]
		now := ms(db.now())
		for _, id := range ids {
			before, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("job %d: %w", id, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("ledger: update job %d: %w", id, err)
			}
			if before.State != JobQueued {
				return fmt.Errorf("job %d is %s: %w", id, before.State, ErrJobNotQueued)
			}
			after, err := scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET priority = COALESCE(?, priority),
				gpus = COALESCE(?, gpus), cpus = COALESCE(?, cpus), timeout_ms = COALESCE(?, timeout_ms),
				held = COALESCE(?, held) WHERE id = ? RETURNING `+jobCols,
				intOrNil(u.Priority), intOrNil(u.GPUs), intOrNil(u.CPUs), timeout, boolOrNil(u.Held), id))
			if err != nil {
				return fmt.Errorf("ledger: update job %d: %w", id, err)
			}
			up := JobUpdated{Before: before, After: after}
			if ch := up.Changes(); len(ch) > 0 {
				if err := addEvent(ctx, tx, now, "job.update", jobSubject(id), strings.Join(ch, ", ")); err != nil {
					return err
				}
			}
			out = append(out, up)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func intOrNil(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func boolOrNil(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

// Changes says what the update changed, one "what old -> new" each, in
// the order runner update's flags are listed; none when it changed nothing.
func (u JobUpdated) Changes() []string {
	b, a := u.Before, u.After
	var out []string
	add := func(what, old, new string) {
		if old != new {
			out = append(out, what+" "+old+" -> "+new)
		}
	}
	add("priority", fmt.Sprint(b.Priority), fmt.Sprint(a.Priority))
	add("gpus", fmt.Sprint(b.GPUs), fmt.Sprint(a.GPUs))
	add("cpus", cpusText(b.CPUs), cpusText(a.CPUs))
	add("timeout", timeoutText(b.Timeout), timeoutText(a.Timeout))
	switch {
	case !b.Held && a.Held:
		out = append(out, "held")
	case b.Held && !a.Held:
		out = append(out, "released")
	}
	return out
}

func cpusText(n int) string {
	if n < 0 {
		return "default"
	}
	return fmt.Sprint(n)
}

func timeoutText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return units.FormatDuration(d)
}
