// Package ledger is runner's SQLite store: offline runs and their sync state,
// upload attempts, an events log and the daemon heartbeat. It is the only
// package that writes SQL.
package ledger

import (
	"errors"
	"time"
)

// State is a run's place in the sync state machine (docs/design.md "Run states"; the moves are in runstate.go).
// The same values are enforced by a CHECK constraint on runs.state.
type State string

const (
	StateActive    State = "active"    // still being written
	StatePending   State = "pending"   // finished, waiting to upload (maybe after next_attempt_at)
	StateUploading State = "uploading" // leased by one worker until lease_expires_at
	StateSynced    State = "synced"    // online; terminal
	StateFailed    State = "failed"    // max attempts used; `runner sync --retry` re-queues
	StateSkipped   State = "skipped"   // excluded by the user or nothing to upload; reason kept
	StateMissing   State = "missing"   // dir vanished before upload
)

// AllStates lists the states in display order.
var AllStates = []State{StateActive, StatePending, StateUploading, StateSynced, StateFailed, StateSkipped, StateMissing}

// Sync sources: how a run reached StateSynced.
const (
	SourceUpload   = "upload"   // uploaded from the run dir as is
	SourceRepaired = "repaired" // uploaded from a repaired copy (torn tail cut off)
	SourceMarker   = "marker"   // a .synced marker already existed when runner first saw it
)

// Outcome classes of one upload attempt.
const (
	OutcomeSuccess   = "success"
	OutcomeAuth      = "auth"
	OutcomeTransient = "transient"
	OutcomeOther     = "other"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound      = errors.New("not found")
	ErrAmbiguous     = errors.New("ambiguous run name")
	ErrNewerSchema   = errors.New("ledger schema is newer than this runner")
	ErrLeaseLost     = errors.New("lease lost")
	ErrNoLedger      = errors.New("no ledger yet")
	ErrWorldWritable = errors.New("ledger is world-writable")
	// ErrForeign: the file is not a runner ledger (another SQLite database or not SQLite at all).
	ErrForeign = errors.New("not a runner ledger")
	// ErrReadOnly: a write method was called on a ledger opened with Options.ReadOnly.
	ErrReadOnly = errors.New("ledger is open read-only")
	// ErrReplaced: the ledger file was deleted or replaced under a running process.
	ErrReplaced = errors.New("ledger file deleted or replaced")
	// ErrDamaged: SQLite's integrity check found the file damaged.
	ErrDamaged = errors.New("ledger damaged")
	// ErrBusy: another process held the ledger's lock longer than a command waits.
	ErrBusy = errors.New("locked by another process")
	// ErrNeedsMigration: a read-only open found a schema older than this binary's.
	ErrNeedsMigration = errors.New("ledger needs migration: run runner daemon or any write command once")
)

// Meta is what the .wandb reader reports about a run, as the ledger stores it.
// JSON-valued fields are stored as text exactly as given.
type Meta struct {
	RunID        string
	Entity       string
	Project      string
	Name         string
	Group        string
	JobType      string
	Tags         []string
	StartTime    *time.Time
	WandbVersion string
	Finished     bool // exit record seen
	Footer       bool // footer record seen (legacy logs)
	ExitCode     *int
	RuntimeS     *int
	TornTail     bool
	ReadError    string // "" or "offset N: reason"
	HistoryRows  int
	HistoryKeys  []string
	RecordsJSON  string // {"history": 3, ...}
	SummaryJSON  string // final summary as W&B shows it
	ConfigJSON   string
	GoodOffset   int64 // end of the last complete record (repair cut point)
	Empty        bool  // empty or header-only log: nothing to upload
	// Metrics are the per-key history summaries, stored in the metrics
	// table and replaced together with the rest of the metadata.
	Metrics []MetricSummary
}

// Run is one row of the runs table: one offline run dir.
type Run struct {
	Dir      string // canonical absolute path of the run dir; primary key
	LogPath  string // the run-<id>.wandb file
	GroupKey string // project/run_id (or Dir without a run id): dirs uploaded together
	Meta
	Size  int64
	MTime time.Time // of the .wandb file

	State          State
	Reason         string // why skipped / missing / failed
	Source         string // Source* when synced
	Attempts       int
	NextAttemptAt  *time.Time
	LeaseOwner     string
	LeaseExpiresAt *time.Time
	LastError      string
	URL            string
	SyncedAt       *time.Time
	JobID          *int64 // job that produced the run, when known (jobs issue)
	FirstSeen      time.Time
	UpdatedAt      time.Time
	ChangedAt      time.Time // last time size or mtime was seen to change (quiet-period clock)
	UploadAlone    bool      // its last batched call failed for a reason not its own: next call holds its group only
}

// Attempt is one row of the uploads table.
type Attempt struct {
	ID         int64
	RunID      string
	Dirs       []string
	Owner      string
	StartedAt  time.Time
	EndedAt    *time.Time
	Outcome    string // Outcome*
	ExitCode   *int
	OutputTail string // already redacted by the caller
	URL        string
	Source     string // Source* for a successful attempt
	Error      string // one-line error of a failed attempt
}

// Event is one row of the events log.
type Event struct {
	ID      int64
	At      time.Time
	Kind    string // e.g. "run.state", "upload", "daemon", "error"
	Subject string // run dir, run id, job id...
	Message string
}

// Clock lets tests control time.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// groupKey is the upload group of a run: dirs with the same project and run
// id are fragments of one W&B run (pipeline stages, resumes) and must go up
// in one wandb sync call.
func groupKey(dir string, m *Meta) string {
	if m != nil && m.RunID != "" {
		return m.Project + "/" + m.RunID
	}
	return dir
}
