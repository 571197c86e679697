package app

import (
	"fmt"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// answerEach is jobs.AnswerEach on the command's streams, with ErrFailed
// (exit 1) when any job could not be done.
func answerEach(env Env, verb string, list []ledger.Job) (todo []ledger.Job, failed error) {
	todo, cannot := jobs.AnswerEach(verb, list, env.say, func(err error) { fmt.Fprintf(env.Stderr, "runner: %v\n", err) })
	if cannot {
		failed = ErrFailed
	}
	return todo, failed
}
