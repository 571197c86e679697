package ledger

import "errors"

// This file is the one place that says how a run's state may change
// (docs/design.md "Run states"). Every change of runs.state in this package
// goes through RunMove: first sight, re-observation, readiness, claim,
// complete, rescue, release, skip, retry. A move the table does not allow is
// refused with ErrIllegalMove, never written.

// StateNew is the state of a run dir before its first row exists: the
// from-state of the first-sight events. It is never stored.
const StateNew State = "new"

// RunEvent is something that happens to a run.
type RunEvent string

const (
	RunObserved     RunEvent = "observed"      // first sight of a run dir with a log
	RunMarkerFound  RunEvent = "marker_found"  // its run-<id>.wandb.synced exists: someone uploaded it
	RunEmpty        RunEvent = "empty"         // first sight of a log with nothing to upload
	RunReturned     RunEvent = "returned"      // a missing run's dir is there again
	RunGrew         RunEvent = "grew"          // the log grew after it was judged finished, or an empty log grew
	RunFinished     RunEvent = "finished"      // readiness: the writer is done
	RunClaimed      RunEvent = "claimed"       // an uploader took the lease
	RunUploaded     RunEvent = "uploaded"      // the upload succeeded
	RunUploadFailed RunEvent = "upload_failed" // the upload failed; retried after a backoff
	RunGaveUp       RunEvent = "gave_up"       // the upload failed for the last time, or must not be retried
	RunReleased     RunEvent = "released"      // the uploader handed the lease back untouched (shutdown)
	RunLeaseExpired RunEvent = "lease_expired" // the uploader's lease ran out (it crashed or hung)
	RunVanished     RunEvent = "vanished"      // the run dir is gone before upload
	RunSkipped      RunEvent = "skipped"       // `runner skip`
	RunRetried      RunEvent = "retried"       // `runner sync --retry`
	RunUnskipped    RunEvent = "unskipped"     // `runner unskip`: judged again like a new run
	RunForced       RunEvent = "forced"        // `runner sync --force`: upload now, finished or not
)

// RunMove is one row of the runs' transition table.
type RunMove = Move[RunEvent, State]

// RunMoves is the transition table of runs, in the order the README's
// diagram lists it.
var RunMoves = Table[RunEvent, State]{
	{RunObserved, []State{StateNew}, StateActive},
	{RunEmpty, []State{StateNew}, StateSkipped},
	{RunMarkerFound, []State{StateNew, StateActive, StatePending, StateFailed, StateMissing}, StateSynced},
	{RunGrew, []State{StatePending, StateSkipped}, StateActive},
	{RunReturned, []State{StateMissing}, StateActive},
	{RunFinished, []State{StateActive}, StatePending},
	{RunClaimed, []State{StatePending}, StateUploading},
	{RunUploaded, []State{StateUploading}, StateSynced},
	{RunUploadFailed, []State{StateUploading}, StatePending},
	{RunGaveUp, []State{StateUploading}, StateFailed},
	{RunReleased, []State{StateUploading}, StatePending},
	{RunLeaseExpired, []State{StateUploading}, StatePending},
	{RunVanished, []State{StateActive, StatePending, StateFailed}, StateMissing},
	{RunSkipped, []State{StateActive, StatePending, StateFailed, StateMissing}, StateSkipped},
	{RunRetried, []State{StateFailed, StatePending}, StatePending},
	{RunUnskipped, []State{StateSkipped}, StateActive},
	{RunForced, []State{StateActive}, StatePending},
}

// ErrIllegalMove: the transition table does not allow the event in the
// run's (or job's) current state; nothing was changed.
var ErrIllegalMove = errors.New("illegal state change")

func runMove(ev RunEvent) RunMove { return RunMoves.move(ev) }

// NextRunState is where ev takes a run in state from, or ErrIllegalMove.
func NextRunState(from State, ev RunEvent) (State, error) { return RunMoves.next("run", from, ev) }

// RunStateTable renders the transition table as the README shows it.
func RunStateTable() string { return RunMoves.Markdown() }

// The statements below are the only SQL that writes runs.state
// (TestStateSQLInOnePlace): each caller runs one with a state its
// transition table gave it.

// runTransitionSQL begins transition's statement; the caller adds the
// columns an event sets and its WHERE.
const runTransitionSQL = "UPDATE runs SET state = ?, updated_at = ?"

// claimGroupSQL takes the oldest due upload group whose every dir is
// claimable (docs/design.md "Claim"); filter narrows the pending runs.
func claimGroupSQL(fromPH, filter string) string {
	return `UPDATE runs SET state = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ?
		WHERE state IN (` + fromPH + `) AND group_key = (
			-- Walk pending runs oldest first (index runs_pending_order) and
			-- take the first whose whole group is claimable.
			SELECT p.group_key FROM runs p
			WHERE p.state = 'pending' AND (p.next_attempt_at IS NULL OR p.next_attempt_at <= ?)` + filter + `
				-- A pipeline stage of this run id still queued or running: wait for it.
				AND p.run_id NOT IN (SELECT run_id FROM jobs WHERE state IN ('queued', 'running'))
				AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.group_key = p.group_key
					AND (o.state IN ('active', 'uploading', 'failed')
						OR (o.state = 'pending' AND coalesce(o.next_attempt_at, 0) > ?)))
			ORDER BY p.first_seen, p.group_key
			LIMIT 1)
		RETURNING `
}

const runSyncedSQL = `UPDATE runs SET state = ?, attempts = ?, source = ?, url = ?, synced_at = ?, last_error = '',
					reason = '', next_attempt_at = NULL, lease_owner = '', lease_expires_at = NULL, upload_alone = 0,
					updated_at = ? WHERE dir = ?`

const runGaveUpSQL = `UPDATE runs SET state = ?, attempts = ?, last_error = ?, reason = ?, next_attempt_at = NULL,
					lease_owner = '', lease_expires_at = NULL, updated_at = ? WHERE dir = ?`

const runRetrySQL = `UPDATE runs SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?,
					lease_owner = '', lease_expires_at = NULL, upload_alone = ?, updated_at = ? WHERE dir = ?`

const runMarkerSyncedSQL = `UPDATE runs SET state = ?, reason = ?, source = ?, synced_at = ?,
			next_attempt_at = NULL, updated_at = ? WHERE dir = ?`

const runObservedStateSQL = `UPDATE runs SET state = ?, reason = '', updated_at = ? WHERE dir = ?`
