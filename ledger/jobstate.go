package ledger

import (
	"fmt"
	"slices"
	"strings"
)

// This file is the one place that says how a job's state may change
// (docs/design.md "Job states"), as runstate.go is for runs. Every change
// of jobs.state goes through NextJobState.

// JobNew is a job's state before it is submitted; never stored.
const JobNew JobState = "new"

// JobEvent is something that happens to a job.
type JobEvent string

const (
	JobSubmitted      JobEvent = "submitted"         // runner submit
	JobStarted        JobEvent = "started"           // the scheduler launched it on its GPUs
	JobExitedOK       JobEvent = "exited_ok"         // exit code 0
	JobExitedFailed   JobEvent = "exited_failed"     // non-zero exit, signal, timeout, start failure; no retries left
	JobVanished       JobEvent = "vanished"          // its process is gone without a recorded end; no retries left
	JobRetried        JobEvent = "retried"           // failed or vanished with retries left: queued again, same id and run id
	JobCancelledEv    JobEvent = "cancelled"         // runner cancel (a running job: once its processes are stopped)
	JobDependencyFail JobEvent = "dependency_failed" // an --after job did not succeed
)

// JobMove is one row of the jobs' transition table.
type JobMove struct {
	Event JobEvent
	From  []JobState
	To    JobState
}

// JobMoves is the transition table of jobs.
var JobMoves = []JobMove{
	{JobSubmitted, []JobState{JobNew}, JobQueued},
	{JobStarted, []JobState{JobQueued}, JobRunning},
	{JobExitedOK, []JobState{JobRunning}, JobSucceeded},
	{JobExitedFailed, []JobState{JobRunning}, JobFailed},
	{JobVanished, []JobState{JobRunning}, JobLost},
	{JobRetried, []JobState{JobRunning}, JobQueued},
	{JobCancelledEv, []JobState{JobQueued, JobRunning}, JobCancelled},
	{JobDependencyFail, []JobState{JobQueued}, JobSkipped},
}

func jobMove(ev JobEvent) JobMove {
	for _, m := range JobMoves {
		if m.Event == ev {
			return m
		}
	}
	panic(fmt.Sprintf("ledger: job event %q is not in the transition table", ev))
}

// NextJobState is where ev takes a job in state from, or ErrIllegalMove.
func NextJobState(from JobState, ev JobEvent) (JobState, error) {
	m := jobMove(ev)
	if !slices.Contains(m.From, from) {
		return from, fmt.Errorf("job %s in state %s: %w", ev, from, ErrIllegalMove)
	}
	return m.To, nil
}

// JobStateTable renders the jobs' transition table as the README shows it.
func JobStateTable() string {
	var b strings.Builder
	b.WriteString("| Event | From | To |\n|---|---|---|\n")
	for _, m := range JobMoves {
		from := make([]string, len(m.From))
		for i, s := range m.From {
			from[i] = "`" + string(s) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", m.Event, strings.Join(from, ", "), m.To)
	}
	return b.String()
}
