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

// The statements below are the only SQL that writes jobs.state
// (TestStateSQLInOnePlace): each caller runs one with a state its
// transition table gave it.

const jobRequeueSQL = `UPDATE jobs SET state = ?, reason = '', ended_at = NULL, exit_code = NULL,
				signal = '', cancel_requested = 0, held = 0, run_id = ? WHERE id = ?`

func jobStartSQL(fromPH string) string {
	return `UPDATE jobs SET state = ?, attempts = attempts + 1,
			started_at = ?, ended_at = NULL, exit_code = NULL, signal = '', reason = '', gpu_uuids = ?,
			log_path = COALESCE(NULLIF(?, ''), log_path), status_path = ?, node = ?,
			supervisor_pid = 0, pid = 0, pgid = 0, start_ticks = 0
			WHERE id = ? AND state IN (` + fromPH + `) RETURNING `
}

const jobEndCancelledSQL = `UPDATE jobs SET state = ?, reason = ?, ended_at = ?, exit_code = ?,
				signal = ?, cancel_requested = 0 WHERE id = ?`

const jobEndSQL = `UPDATE jobs SET state = ?, reason = ?, ended_at = ?, exit_code = ?,
				signal = ? WHERE id = ?`

func jobSkipSQL(fromPH string) string {
	return `UPDATE jobs SET state = ?, reason = ?, ended_at = ? WHERE id = ? AND state IN (` + fromPH + `)`
}

const jobCancelQueuedSQL = `UPDATE jobs SET state = ?, reason = 'cancelled', ended_at = ?,
				cancel_requested = 1 WHERE id = ?`

const jobRefuseSQL = `UPDATE jobs SET state = ?, reason = ?, ended_at = ? WHERE id = ? AND state = ?`
