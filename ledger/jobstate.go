package ledger

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
	JobRequeued       JobEvent = "requeued"          // runner requeue of an ended job, or its dependency requeued
	JobRefused        JobEvent = "refused"           // its engine (sbatch) refused the submission
)

// JobMove is one row of the jobs' transition table.
type JobMove = Move[JobEvent, JobState]

// JobMoves is the transition table of jobs.
var JobMoves = Table[JobEvent, JobState]{
	{JobSubmitted, []JobState{JobNew}, JobQueued},
	{JobStarted, []JobState{JobQueued}, JobRunning},
	{JobExitedOK, []JobState{JobRunning}, JobSucceeded},
	{JobExitedFailed, []JobState{JobRunning}, JobFailed},
	{JobVanished, []JobState{JobRunning}, JobLost},
	{JobRetried, []JobState{JobRunning}, JobQueued},
	{JobCancelledEv, []JobState{JobQueued, JobRunning}, JobCancelled},
	{JobDependencyFail, []JobState{JobQueued}, JobSkipped},
	{JobRequeued, []JobState{JobSucceeded, JobFailed, JobCancelled, JobSkipped, JobLost}, JobQueued},
	{JobRefused, []JobState{JobQueued}, JobFailed},
}

func jobMove(ev JobEvent) JobMove { return JobMoves.move(ev) }

// NextJobState is where ev takes a job in state from, or ErrIllegalMove.
func NextJobState(from JobState, ev JobEvent) (JobState, error) {
	return JobMoves.next("job", from, ev)
}

// JobStateTable renders the jobs' transition table as the README shows it.
func JobStateTable() string { return JobMoves.Markdown() }
