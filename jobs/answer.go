package jobs

// The one rule for what the queue verbs answer about a job they cannot
// change (docs/jobs.md "Exit codes of the queue verbs"): when what was asked
// already holds, there is nothing to do (exit 0 with a message); when it
// cannot be done, it is an error (exit 1) naming the job and its state.

import (
	"errors"
	"fmt"

	"github.com/runnerhq/runner/ledger"
)

// ErrCannot: a queue verb cannot do what it was asked to a job in its state.
var ErrCannot = errors.New("cannot")

// Answer says what verb (hold, release, cancel, requeue) does to job j:
// nothing to do (a message for stdout), cannot (an error wrapping
// ErrCannot), or neither: go ahead.
func Answer(verb string, j ledger.Job) (nothing string, err error) {
	cannot := func(why string) error {
		return fmt.Errorf("job %d is %s: %w %s it (%s)", j.ID, j.State, ErrCannot, verb, why)
	}
	switch verb {
	case "hold":
		switch {
		case j.State != ledger.JobQueued:
			return "", cannot("only a queued job can be held")
		case j.Held:
			return fmt.Sprintf("job %d: already held", j.ID), nil
		}
	case "release":
		if j.State != ledger.JobQueued || !j.Held {
			return fmt.Sprintf("job %d: not held (%s)", j.ID, j.State), nil
		}
	case "cancel":
		switch {
		case j.State == ledger.JobCancelled:
			return fmt.Sprintf("job %d: already cancelled", j.ID), nil
		case j.State.Ended():
			return "", cannot("it already ended")
		}
	case "requeue":
		switch {
		case j.State == ledger.JobQueued:
			return fmt.Sprintf("job %d: already queued", j.ID), nil
		case j.State == ledger.JobRunning:
			return "", cannot("requeue it once it ends, or cancel it first")
		}
	}
	return "", nil
}

// AnswerEach applies Answer to list for verb: what needs nothing done goes
// to say, what cannot be done to warn; it returns the jobs to act on, and
// whether any could not be (the command's exit 1).
func AnswerEach(verb string, list []ledger.Job, say func(string), warn func(error)) (todo []ledger.Job, cannot bool) {
	for _, j := range list {
		nothing, err := Answer(verb, j)
		switch {
		case err != nil:
			warn(fmt.Errorf("%s: %w", verb, err))
			cannot = true
		case nothing != "":
			say(nothing)
		default:
			todo = append(todo, j)
		}
	}
	return todo, cannot
}
