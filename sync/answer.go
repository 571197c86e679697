package sync

// skip and unskip answer like the queue verbs (jobs.Answer, docs/jobs.md
// "Exit codes of the queue verbs"): a run already where it was asked to go
// is nothing to do (a message, exit 0); one its state keeps from moving
// cannot be changed (exit 1, naming the run and its state).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

// ErrCannot: skip or unskip cannot move a run in its state.
var ErrCannot = errors.New("cannot")

// RunChange is what skip or unskip did to the runs it was given.
type RunChange struct {
	Verb    string   // skip or unskip
	Moved   []string // the dirs it moved
	Nothing []string // one line per run that was already so
	Cannot  []error  // one per run it could not move (wrapping ErrCannot)
}

// RunGetter reads one run.
type RunGetter interface {
	GetRun(ctx context.Context, dir string) (ledger.Run, error)
}

// AnswerRuns sorts dirs after verb moved those in moved: the others are
// nothing to do or cannot, by their state now (RunAnswer).
func AnswerRuns(ctx context.Context, db RunGetter, verb string, dirs, moved []string) RunChange {
	ch := RunChange{Verb: verb, Moved: moved}
	for _, d := range dirs {
		if slices.Contains(moved, d) {
			continue
		}
		var st ledger.State
		if r, err := db.GetRun(ctx, d); err == nil {
			st = r.State
		}
		nothing, err := RunAnswer(verb, safe.Text(filepath.Base(d)), st)
		switch {
		case err != nil:
			ch.Cannot = append(ch.Cannot, fmt.Errorf("%s: %w", verb, err))
		case nothing != "":
			ch.Nothing = append(ch.Nothing, nothing)
		}
	}
	return ch
}

// RunAnswer is the rule for a run (named name) in state st that verb left
// where it was: nothing to do (a message) or cannot (an error wrapping
// ErrCannot). st "" is a run no longer in the ledger.
func RunAnswer(verb, name string, st ledger.State) (nothing string, err error) {
	cannot := func(why string) error {
		return fmt.Errorf("%s is %s: %w %s it (%s)", name, st, ErrCannot, verb, why)
	}
	switch {
	case st == "":
		return "", fmt.Errorf("%s: %w %s it (it is no longer in the ledger)", name, ErrCannot, verb)
	case verb == "unskip":
		return fmt.Sprintf("%s: not skipped (%s)", name, st), nil
	case st == ledger.StateSkipped:
		return fmt.Sprintf("%s: already skipped", name), nil
	case st == ledger.StateSynced:
		return "", cannot("it is already uploaded")
	case st == ledger.StateUploading:
		return "", cannot("it is being uploaded; skip it if the upload fails")
	}
	return "", cannot("its state changed meanwhile; try again")
}
