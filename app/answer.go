package app

import (
	"fmt"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// answerEach applies jobs.Answer to list for verb: it says on stdout which
// jobs need nothing done, on stderr which cannot be done, and returns the
// jobs to act on, with ErrFailed (exit 1) when any could not be.
func answerEach(env Env, verb string, list []ledger.Job) (todo []ledger.Job, failed error) {
	for _, j := range list {
		nothing, err := jobs.Answer(verb, j)
		switch {
		case err != nil:
			fmt.Fprintf(env.Stderr, "runner: %s: %v\n", verb, err)
			failed = ErrFailed
		case nothing != "":
			fmt.Fprintln(env.Stdout, nothing)
		default:
			todo = append(todo, j)
		}
	}
	return todo, failed
}
