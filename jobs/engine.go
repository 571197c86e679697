package jobs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// Engine is an executor that is not this host: a cluster scheduler that
// takes a job, runs it somewhere under its own id, and tells how it went
// (docs/design.md "Executors"). Slurm is one; a Kubernetes Jobs engine
// would be another. The local executor is the Scheduler itself: it places
// jobs on this host's GPUs instead of handing them on.
//
// `runner submit` and `runner cancel` call Submit and Cancel as the user
// who typed them (the engine authenticates that user); the daemon's
// Scheduler calls States to follow the jobs, and, after a restart, follows
// them again from the engine ids in the ledger (re-attach).
type Engine interface {
	// Submit hands one job, or one array of jobs, to the engine and
	// returns the engine's id for each job, in order.
	Submit(ctx context.Context, sub Submission) ([]string, error)
	// Cancel stops jobs by engine id, as user as (nil: this process's).
	Cancel(ctx context.Context, ids []string, as *User) error
	// Hold keeps pending jobs from starting (hold) or lets them start again.
	Hold(ctx context.Context, ids []string, hold bool, as *User) error
	// States is what the engine knows of jobs by engine id; a job it no
	// longer knows is absent from the map.
	States(ctx context.Context, ids []string) (map[string]EngineState, error)
}

// Submission is what an engine needs to run one job or one array.
type Submission struct {
	Jobs []EngineJob // one job, or the array's jobs in index order
	// Array: Jobs are one array (their ArrayIndex), at most ArrayLimit
	// running at once (0: no limit).
	Array      bool
	ArrayLimit int64
	Name       string
	GPUs       int
	CPUs       int    // CPU cores per job; <= 0: the engine's default
	MemMax     uint64 // bytes of host memory; 0: the engine's default
	Timeout    time.Duration
	Dir        string   // working directory
	Env        []string // the submitter's captured environment (jobs.Capture), before runner's variables
	After      []string // engine ids that must succeed first
	AfterAny   []string // engine ids that must end first
	AfterNotOK []string // engine ids that must end without success first
	Hold       bool
	User       *User // submit as this user (a root daemon for a socket caller); nil: as this process
}

// EngineJob is one job of a Submission.
type EngineJob struct {
	ID         int64
	ArrayIndex int64
	Argv       []string
	// Env is the job's runner variables and --env values (EngineEnv); the
	// engine sets them in the job, on top of Submission.Env.
	Env []string
	// LogPath is where its output goes (the engine writes it).
	LogPath string
	// Stdout and Stderr are submit --output and --error, expanded (%j is
	// runner's job id, as for a local job): the job's own streams go there
	// (stderr with stdout without --error); LogPath keeps the rest. "": none.
	Stdout, Stderr string
}

// Phase is where an engine's job is.
type Phase string

// The phases of an engine's job.
const (
	PhasePending Phase = "pending"
	PhaseRunning Phase = "running"
	PhaseEnded   Phase = "ended"
)

// EngineState is what an engine says of one job.
type EngineState struct {
	Phase  Phase
	Node   string // where it runs or ran
	Reason string // why it is pending (the engine's words)
	// How it ended (PhaseEnded): an exit code or a signal, and EndReason
	// "timeout", "cancelled" or another cause the exit code does not tell.
	ExitCode  *int
	Signal    string
	EndReason string
	StartedAt time.Time // zero: unknown (or not started)
	EndedAt   time.Time // zero: unknown
	// NeverRuns: pending for a reason that will not pass (a dependency
	// that failed): the daemon cancels it and records it skipped.
	NeverRuns bool
}

// ErrEngineRefused is an engine's refusal of a submission (its own error
// line follows): the jobs are recorded failed with it.
var ErrEngineRefused = errors.New("refused")

// EngineEnv is the variables runner sets in an engine's job: the same as a
// local job's (JobEnv) less those the engine owns (the GPUs it allocates).
// base is not included: the engine passes the submitter's environment.
func EngineEnv(s Spec) []string {
	var out []string
	for _, kv := range JobEnv(nil, s) {
		k, _, _ := strings.Cut(kv, "=")
		if k != "CUDA_VISIBLE_DEVICES" && k != "CUDA_DEVICE_ORDER" {
			out = append(out, kv)
		}
	}
	return out
}

// SubmitterEnv is an inherited or captured environment less runner's own
// variables and systemd's hand-over: the base of a local job's environment
// (JobEnv) and what an engine passes on to its jobs.
func SubmitterEnv(captured []string) []string {
	var out []string
	for _, kv := range captured {
		k, _, _ := strings.Cut(kv, "=")
		if !isRunnerEnvKey(k) && !isServiceEnvKey(k) {
			out = append(out, kv)
		}
	}
	return out
}

// NewEngine is the engine of an executor; nil for local (the Scheduler).
func NewEngine(ex ledger.Executor) Engine {
	if ex == ledger.ExecutorSlurm {
		return &Slurm{}
	}
	return nil
}
