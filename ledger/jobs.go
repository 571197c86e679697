package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/jsonlist"
	"github.com/runnerhq/runner/internal/secret"
)

// JobState is a job's place in the queue (docs/design.md "Job states"; the moves are in jobstate.go). The same
// values are enforced by a CHECK constraint on jobs.state.
type JobState string

const (
	JobQueued    JobState = "queued"    // waiting for its dependencies or GPUs
	JobRunning   JobState = "running"   // launched; a supervisor process owns it
	JobSucceeded JobState = "succeeded" // exit code 0
	JobFailed    JobState = "failed"    // non-zero exit, signal, timeout, start failure; retries used up
	JobCancelled JobState = "cancelled" // runner cancel
	JobSkipped   JobState = "skipped"   // a dependency did not succeed
	JobLost      JobState = "lost"      // its process vanished without a recorded end; retries used up
)

// AllJobStates lists the job states in display order.
var AllJobStates = []JobState{JobQueued, JobRunning, JobSucceeded, JobFailed, JobCancelled, JobSkipped, JobLost}

// EndedJobStates are the states a job ends in (Ended).
var EndedJobStates = []JobState{JobSucceeded, JobFailed, JobCancelled, JobSkipped, JobLost}

// Ended reports whether s is terminal.
func (s JobState) Ended() bool { return s != JobQueued && s != JobRunning }

// Sentinel errors of the jobs API.
var (
	// ErrSecretInEnv: a --env value names a secret that must never be stored.
	ErrSecretInEnv = errors.New("secrets may not be passed with --env")
	// ErrJobEnded: the job already ended (cancel of a finished job).
	ErrJobEnded = errors.New("job already ended")
	// ErrJobNotEnded: the job is still queued or running (requeue).
	ErrJobNotEnded = errors.New("job has not ended")
	// ErrBadJob: a submission is malformed (usage error for the CLI).
	ErrBadJob = errors.New("invalid job")
)

// Job is one row of the jobs table.
type Job struct {
	ID       int64
	Name     string
	Argv     []string
	Cwd      string
	Env      []string // K=V from --env
	EnvFile  string   // the captured environment (jobs.ReadEnvFile); "": the daemon's
	EnvNames []string // names of the captured variables, sorted
	GPUs     int
	GPUMem   uint64 // bytes; 0 = any
	MemMax   uint64 // bytes of memory the job may use (its unit's MemoryMax=); 0 = no limit
	OwnerUID int    // who submitted it; the job runs as this user when the daemon is root
	Owner    string // the owner's user name at submit
	Held     bool   // queued, but not dispatched until released
	AfterAny []int64
	// AfterNotOK: start only after these ended without success (failed,
	// cancelled, skipped, lost); skipped when one succeeded.
	AfterNotOK []int64
	Labels     map[string]string
	// Output and Error are submit's --output and --error: absolute path
	// patterns (%j, %x) for the command's stdout and stderr; "": the job
	// log (stderr: with stdout).
	Output, Error string
	// Notify is submit's --notify: run by the daemon (sh -c) after the job
	// ends (jobs.EndHooks).
	Notify string
	// ArrayID is the first job id of the job's array (0: none); at most
	// ArrayLimit jobs of it run at once (0: no limit).
	ArrayID, ArrayIndex, ArrayLimit int64
	RunGroup                        string // WANDB_RUN_GROUP
	Share                           bool   // may share GPUs with other sharing jobs, by memory
	CPUs                            int    // CPU slots; -1: the default for its kind (jobs.SlotsOf)
	Priority                        int
	Retries                         int
	Attempts                        int // launches so far
	Timeout                         time.Duration
	After                           []int64
	SameRun                         bool
	RunID                           string

	State       JobState
	Reason      string // why it waits, was skipped, failed or retried
	SubmittedAt time.Time
	StartedAt   *time.Time
	EndedAt     *time.Time
	ExitCode    *int
	Signal      string

	GPUUUIDs        []string
	SupervisorPID   int
	PID, PGID       int
	StartTicks      uint64
	LogPath         string
	StatusPath      string
	CancelRequested bool

	PeakMem  *uint64
	MeanUtil *float64
	EnergyJ  *float64

	// Executor runs the job: ExecutorLocal (the scheduler) or an engine
	// (docs/design.md "Executors"), which knows it as EngineID and ran it on Node.
	Executor Executor
	EngineID string
	Node     string
}

// Executor is what runs a job, mirrored by a CHECK on jobs.executor.
type Executor string

// The executors.
const (
	ExecutorLocal Executor = "local" // this host's scheduler and GPUs
	ExecutorSlurm Executor = "slurm" // a Slurm cluster (sbatch)
)

// Executors lists the executors, the default first.
var Executors = []Executor{ExecutorLocal, ExecutorSlurm}

// JobSpec is what `runner submit` asks for.
type JobSpec struct {
	Name       string
	Argv       []string
	Cwd        string
	Env        []string
	EnvFile    string   // written before SubmitJob; see Job.EnvFile
	EnvNames   []string // what EnvFile holds, names only
	GPUs       int
	GPUMem     uint64
	MemMax     uint64
	OwnerUID   int
	Owner      string
	Held       bool
	AfterAny   []int64
	AfterNotOK []int64
	Labels     map[string]string
	Output     string // see Job.Output
	Error      string
	Notify     string
	// Array jobs: SubmitJobs with inArray gives them one ArrayID (the first
	// id); ArrayIndex and ArrayLimit are per job.
	ArrayIndex, ArrayLimit int64
	RunGroup               string // "": none; for an array, "" means array-<id>
	Share                  bool
	CPUs                   int // -1: the default for its kind
	Priority               int
	Retries                int
	Timeout                time.Duration
	After                  []int64
	SameRun                bool     // reuse the run id of the only After job
	Executor               Executor // "": local
}

// ownerName is the name recorded for the owner: the uid when the name is unknown.
func (s JobSpec) ownerName() string {
	if s.Owner != "" {
		return s.Owner
	}
	if s.OwnerUID == 0 {
		return "root"
	}
	return strconv.Itoa(s.OwnerUID)
}

func (s JobSpec) executor() Executor {
	if s.Executor == "" {
		return ExecutorLocal
	}
	return s.Executor
}

func (s JobSpec) validate() error {
	switch {
	case !slices.Contains(Executors, s.executor()):
		return fmt.Errorf("%w: executor %q (want local or slurm)", ErrBadJob, s.Executor)
	case len(s.Argv) == 0 || s.Argv[0] == "":
		return fmt.Errorf("%w: no command (give it after --)", ErrBadJob)
	case s.GPUs < 0:
		return fmt.Errorf("%w: --gpus %d is negative", ErrBadJob, s.GPUs)
	case s.Retries < 0:
		return fmt.Errorf("%w: --retries %d is negative", ErrBadJob, s.Retries)
	case s.Timeout < 0:
		return fmt.Errorf("%w: --timeout is negative", ErrBadJob)
	case s.OwnerUID < 0:
		return fmt.Errorf("%w: owner uid %d", ErrBadJob, s.OwnerUID)
	case s.SameRun && (len(s.AfterAny) > 0 || len(s.AfterNotOK) > 0):
		return fmt.Errorf("%w: --same-run goes with one --after, not --after-any or --after-notok", ErrBadJob)
	case s.ArrayLimit < 0 || s.CPUs < -1:
		return fmt.Errorf("%w: negative array limit or CPU slots", ErrBadJob)
	case s.SameRun && len(s.After) != 1:
		return fmt.Errorf("%w: --same-run needs exactly one --after (got %d)", ErrBadJob, len(s.After))
	}
	for _, kv := range s.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: --env %q: want KEY=VALUE", ErrBadJob, kv)
		}
		if secret.EnvName(k) {
			return fmt.Errorf("%w: %s (export it and give --env-keep %s: it then stays out of the ledger)", ErrSecretInEnv, k, k)
		}
	}
	return nil
}

const jobCols = `id, name, argv, cwd, env, gpus, gpu_mem, priority, retries, attempts, timeout_ms, after_ids,
	same_run, run_id, state, reason, submitted_at, started_at, ended_at, exit_code, signal, gpu_uuids,
	supervisor_pid, pid, pgid, start_ticks, log_path, status_path, cancel_requested, peak_mem, mean_util, energy_j,
	env_file, env_names, mem_max, owner_uid, owner, held, after_any, labels, array_id, array_index, array_limit,
	run_group, share, cpus, executor, engine_id, node, after_notok, output_path, error_path, notify`

func scanJob(s scanner) (Job, error) {
	var (
		j                                 Job
		argv, env, after, uuids, envNames string
		afterAny, labels, afterNotOK      string
		gpuMem, timeout, submitted, ticks int64
		memMax                            int64
		started, ended, exitCode, peak    sql.NullInt64
		meanUtil, energy                  sql.NullFloat64
		sameRun, cancel                   bool
	)
	err := s.Scan(&j.ID, &j.Name, &argv, &j.Cwd, &env, &j.GPUs, &gpuMem, &j.Priority, &j.Retries, &j.Attempts,
		&timeout, &after, &sameRun, &j.RunID, &j.State, &j.Reason, &submitted, &started, &ended, &exitCode,
		&j.Signal, &uuids, &j.SupervisorPID, &j.PID, &j.PGID, &ticks, &j.LogPath, &j.StatusPath, &cancel,
		&peak, &meanUtil, &energy, &j.EnvFile, &envNames, &memMax, &j.OwnerUID, &j.Owner, &j.Held, &afterAny, &labels,
		&j.ArrayID, &j.ArrayIndex, &j.ArrayLimit, &j.RunGroup, &j.Share, &j.CPUs, &j.Executor, &j.EngineID, &j.Node, &afterNotOK, &j.Output, &j.Error, &j.Notify)
	if err != nil {
		return Job{}, err
	}
	_ = json.Unmarshal([]byte(afterNotOK), &j.AfterNotOK)
	j.Argv, j.Env, j.GPUUUIDs, j.EnvNames = jsonlist.Decode(argv), jsonlist.Decode(env), jsonlist.Decode(uuids), jsonlist.Decode(envNames)
	_ = json.Unmarshal([]byte(after), &j.After)
	_ = json.Unmarshal([]byte(afterAny), &j.AfterAny)
	_ = json.Unmarshal([]byte(labels), &j.Labels)
	j.GPUMem, j.Timeout, j.StartTicks = uint64(gpuMem), time.Duration(timeout)*time.Millisecond, uint64(ticks)
	j.MemMax = uint64(memMax)
	j.SameRun, j.CancelRequested = sameRun, cancel
	j.SubmittedAt = fromMS(submitted)
	j.StartedAt, j.EndedAt = fromNullMS(started), fromNullMS(ended)
	if exitCode.Valid {
		v := int(exitCode.Int64)
		j.ExitCode = &v
	}
	if peak.Valid {
		v := uint64(peak.Int64)
		j.PeakMem = &v
	}
	if meanUtil.Valid {
		j.MeanUtil = &meanUtil.Float64
	}
	if energy.Valid {
		j.EnergyJ = &energy.Float64
	}
	return j, nil
}

// planCols are the columns a plan reads of each queued job.
const planCols = `id, state, reason, run_id, gpus, gpu_mem, priority, submitted_at, timeout_ms, after_ids, after_any,
	held, array_id, array_limit, share, cpus, executor, engine_id, after_notok`

func scanPlanJob(s scanner) (Job, error) {
	var (
		j                           Job
		gpuMem, submitted, timeout  int64
		after, afterAny, afterNotOK string
	)
	err := s.Scan(&j.ID, &j.State, &j.Reason, &j.RunID, &j.GPUs, &gpuMem, &j.Priority, &submitted, &timeout, &after,
		&afterAny, &j.Held, &j.ArrayID, &j.ArrayLimit, &j.Share, &j.CPUs, &j.Executor, &j.EngineID, &afterNotOK)
	if err != nil {
		return Job{}, err
	}
	if after != "[]" {
		_ = json.Unmarshal([]byte(after), &j.After)
	}
	if afterAny != "[]" {
		_ = json.Unmarshal([]byte(afterAny), &j.AfterAny)
	}
	if afterNotOK != "[]" {
		_ = json.Unmarshal([]byte(afterNotOK), &j.AfterNotOK)
	}
	j.GPUMem, j.Timeout, j.SubmittedAt = uint64(gpuMem), time.Duration(timeout)*time.Millisecond, fromMS(submitted)
	return j, nil
}

// QueueChanges is what changed in the queue since seq (0: the whole queue):
// the planning columns (planCols) of every job changed since, in whatever
// state it is now, and the sequence number to pass next time. With seq 0 only
// queued jobs are read. A long queue is then read once, not on every plan.
func (db *DB) QueueChanges(ctx context.Context, seq int64) (changed []Job, next int64, err error) {
	// The counter first, then the rows: a row changed in between has a
	// number above next and comes (again, in its newest form) next time.
	if err := db.queryRow(ctx, `SELECT n FROM jobs_seq`).Scan(&next); err != nil {
		return nil, 0, fmt.Errorf("ledger: queue changes: %w", err)
	}
	where, args := `seq > ? AND seq <= ?`, []any{seq, next}
	if seq == 0 {
		where, args = `state = 'queued'`, nil
	}
	rows, err := db.query(ctx, `SELECT `+planCols+` FROM jobs WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: queue changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		j, err := scanPlanJob(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("ledger: queue changes: %w", err)
		}
		changed = append(changed, j)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("ledger: queue changes: %w", err)
	}
	return changed, next, nil
}

// JobsSeq is the jobs change counter: it moves on every insert or update of
// a job, so a reader that saw n and sees more knows something changed
// (the scheduler's safety net behind a lost wake-up; see QueueChanges).
func (db *DB) JobsSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := db.queryRow(ctx, `SELECT n FROM jobs_seq`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: jobs change counter: %w", err)
	}
	return n, nil
}

// NewRunID returns a fresh W&B run id: 8 characters of [a-z0-9], as wandb
// generates them.
func NewRunID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

func jobSubject(id int64) string { return strconv.FormatInt(id, 10) }

// jobEvent logs a job's state change as "from -> to: why".
func jobEvent(ctx context.Context, tx *Tx, at int64, id int64, from, to JobState, why string) error {
	msg := fmt.Sprintf("%s -> %s", from, to)
	if why != "" {
		msg += ": " + why
	}
	return addEvent(ctx, tx, at, "job.state", jobSubject(id), msg)
}

// SubmitJob queues a job and returns it. A malformed spec gives an error
// wrapping ErrBadJob or ErrSecretInEnv; an --after id that does not exist
// gives one wrapping ErrNotFound that names it. With SameRun the job gets
// the run id of its dependency, else a fresh one.
func (db *DB) SubmitJob(ctx context.Context, s JobSpec) (Job, error) {
	out, err := db.SubmitJobs(ctx, []JobSpec{s}, false)
	if err != nil {
		return Job{}, err
	}
	return out[0], nil
}

// SubmitJobs queues specs in one transaction: all or none. With inArray they
// form one array whose id is the first job's id; its jobs get that id as
// their W&B run group unless a RunGroup is given.
func (db *DB) SubmitJobs(ctx context.Context, specs []JobSpec, inArray bool) ([]Job, error) {
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return nil, err
		}
	}
	out := make([]Job, 0, len(specs))
	err := db.inTx(ctx, func(tx *Tx) error {
		out = out[:0]
		to, err := NextJobState(JobNew, JobSubmitted)
		if err != nil {
			return err
		}
		now := ms(db.now())
		depRuns := map[int64]string{}
		var arrayID int64
		group := ""
		for _, s := range specs {
			runID := NewRunID()
			for _, dep := range slices.Concat(s.After, s.AfterAny, s.AfterNotOK) {
				depRun, seen := depRuns[dep]
				if !seen {
					err := tx.QueryRowContext(ctx, `SELECT run_id FROM jobs WHERE id = ?`, dep).Scan(&depRun)
					if errors.Is(err, sql.ErrNoRows) {
						return fmt.Errorf("--after %d: no such job: %w", dep, ErrNotFound)
					}
					if err != nil {
						return fmt.Errorf("ledger: submit job: %w", err)
					}
					depRuns[dep] = depRun
				}
				if s.SameRun {
					runID = depRun
				}
			}
			labels, _ := json.Marshal(s.Labels)
			if s.Labels == nil {
				labels = []byte("{}")
			}
			j, err := scanJob(tx.QueryRowContext(ctx, `INSERT INTO jobs (name, argv, cwd, env, gpus, gpu_mem, priority,
				retries, timeout_ms, after_ids, same_run, run_id, state, submitted_at, env_file, env_names, mem_max, owner_uid,
				owner, held, after_any, labels, array_id, array_index, array_limit, run_group, share, cpus, executor, after_notok, output_path, error_path, notify)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+jobCols,
				s.Name, jsonlist.Encode(s.Argv), s.Cwd, jsonlist.Encode(s.Env), s.GPUs, int64(s.GPUMem), s.Priority,
				s.Retries, s.Timeout.Milliseconds(), encodeIDs(s.After), s.SameRun, runID, to, now, s.EnvFile,
				jsonlist.Encode(s.EnvNames), int64(s.MemMax), s.OwnerUID, s.ownerName(), s.Held, encodeIDs(s.AfterAny),
				string(labels), arrayID, s.ArrayIndex, s.ArrayLimit, s.RunGroup, s.Share, s.CPUs, s.executor(), encodeIDs(s.AfterNotOK), s.Output, s.Error, s.Notify))
			if err != nil {
				return fmt.Errorf("ledger: submit job: %w", err)
			}
			if inArray {
				if arrayID == 0 {
					arrayID, group = j.ID, s.RunGroup
					if group == "" {
						group = "array-" + strconv.FormatInt(j.ID, 10)
					}
				}
				if _, err := tx.ExecContext(ctx, `UPDATE jobs SET array_id = ?, run_group = ? WHERE id = ?`, arrayID, group, j.ID); err != nil {
					return fmt.Errorf("ledger: submit job: %w", err)
				}
				j.ArrayID, j.RunGroup = arrayID, group
			}
			if err := linkRuns(ctx, tx, j.ID, runID); err != nil {
				return err
			}
			why := "submitted"
			if s.Held {
				why += ", held"
			}
			if err := jobEvent(ctx, tx, now, j.ID, JobNew, to, why); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encodeIDs is a JSON array of job ids ("[]" for none).
func encodeIDs(ids []int64) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// SetHeld holds (or releases) the queued jobs among ids and returns the ids
// it changed; a held job stays queued but is not dispatched.
func (db *DB) SetHeld(ctx context.Context, ids []int64, held bool) ([]int64, error) {
	var changed []int64
	err := db.inTx(ctx, func(tx *Tx) error {
		changed = changed[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET held = ? WHERE id IN (SELECT value FROM json_each(?))
			AND state = 'queued' AND held != ? RETURNING id`, held, encodeIDs(ids), held)
		if err != nil {
			return fmt.Errorf("ledger: hold jobs: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("ledger: hold jobs: %w", err)
			}
			changed = append(changed, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("ledger: hold jobs: %w", err)
		}
		msg := "held"
		if !held {
			msg = "released"
		}
		now := ms(db.now())
		for _, id := range changed {
			if err := addEvent(ctx, tx, now, "job.hold", jobSubject(id), msg); err != nil {
				return err
			}
		}
		return nil
	})
	slices.Sort(changed)
	return changed, err
}

// RequeueJob queues an ended job again as a new attempt (a retry's way:
// same id; the same W&B run id unless newRun), and with it every job that
// was skipped because of it, transitively. It returns the ids queued again,
// id first; an unknown id wraps ErrNotFound, a queued or running one
// ErrJobNotEnded.
func (db *DB) RequeueJob(ctx context.Context, id int64, newRun bool) ([]int64, error) {
	var out []int64
	err := db.inTx(ctx, func(tx *Tx) error {
		out = out[:0]
		cur, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("ledger: requeue job %d: %w", id, err)
		}
		to, illegal := NextJobState(cur.State, JobRequeued)
		if illegal != nil {
			return fmt.Errorf("job %d is %s: %w", id, cur.State, ErrJobNotEnded)
		}
		now := ms(db.now())
		requeue := func(j Job, why string, fresh bool) error {
			runID := j.RunID
			if fresh {
				runID = NewRunID()
			}
			if _, err := tx.ExecContext(ctx, jobRequeueSQL, to, runID, j.ID); err != nil {
				return fmt.Errorf("ledger: requeue job %d: %w", j.ID, err)
			}
			if err := linkRuns(ctx, tx, j.ID, runID); err != nil {
				return err
			}
			out = append(out, j.ID)
			return jobEvent(ctx, tx, now, j.ID, j.State, to, why)
		}
		if err := requeue(cur, "runner requeue", newRun); err != nil {
			return err
		}
		// Dependents skipped because of a requeued job wait for it again.
		for i := 0; i < len(out); i++ {
			dep := out[i]
			rows, err := tx.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'skipped'
				AND (EXISTS (SELECT 1 FROM json_each(after_ids) WHERE value = ?)
					OR EXISTS (SELECT 1 FROM json_each(after_any) WHERE value = ?)
					OR EXISTS (SELECT 1 FROM json_each(after_notok) WHERE value = ?)) ORDER BY id`, dep, dep, dep)
			if err != nil {
				return fmt.Errorf("ledger: requeue dependents of job %d: %w", dep, err)
			}
			var skipped []Job
			for rows.Next() {
				j, err := scanJob(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("ledger: requeue dependents of job %d: %w", dep, err)
				}
				skipped = append(skipped, j)
			}
			rows.Close()
			for _, j := range skipped {
				if err := requeue(j, fmt.Sprintf("dependency %d requeued", dep), false); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// linkRuns records job id as the producer of the runs with its run id that
// no job claims yet.
func linkRuns(ctx context.Context, tx *Tx, id int64, runID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET job_id = ? WHERE run_id = ? AND job_id IS NULL`, id, runID); err != nil {
		return fmt.Errorf("ledger: link runs of job %d: %w", id, err)
	}
	return nil
}

// jobForRunSQL picks the job that produced a run, given its run id and its
// start time (unix ms, twice): the job of that run id that was running when
// the run started (pipeline stages share a run id), else the one running
// now, else the newest.
const jobForRunSQL = `(SELECT id FROM jobs WHERE run_id = ? AND run_id != ''
	ORDER BY (started_at <= ? AND (ended_at IS NULL OR ended_at >= ?)) DESC, state = 'running' DESC, id DESC LIMIT 1)`

// jobForRunArgs are jobForRunSQL's arguments for m.
func jobForRunArgs(m *Meta) []any {
	start := msPtr(m.StartTime)
	return []any{m.RunID, start, start}
}

// GetJob returns job id, or an error wrapping ErrNotFound.
func (db *DB) GetJob(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(db.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("ledger: get job %d: %w", id, err)
	}
	return j, nil
}

// JobFilter selects jobs for ListJobs; zero fields do not filter.
type JobFilter struct {
	States          []JobState
	RunID           string
	CancelRequested bool // only jobs with a cancel request
	IDs             []int64
	ArrayIDs        []int64           // jobs of these arrays
	ArrayIndexes    []int64           // jobs with these --array indexes (with ArrayIDs: an array's tasks)
	Labels          map[string]string // jobs with all of these labels
	// NameGlob: jobs whose name matches this path.Match pattern (* ? [..] \).
	NameGlob string
	// EndedSince: queued and running jobs, and ended jobs that ended at or
	// after it (runner jobs' default view).
	EndedSince time.Time
	// EndedBefore: only jobs that ended before it (runner clean --before).
	EndedBefore time.Time
	// Ended: only jobs that ended (in any ended state).
	Ended bool
	// Owner: only jobs of this owner (the name jobs' OWNER shows).
	Owner string
}

// ErrBadPattern: a NameGlob that path.Match cannot read.
var ErrBadPattern = errors.New("bad name pattern (want a shell pattern: * ? [a-z] \\)")

// where is f as an SQL condition ("" for none) and its arguments. A
// pattern without escapes is also GLOB's, which matches all that
// path.Match matches (its * and ? also match "/"), so SQL narrows and
// nameMatches decides.
func (f JobFilter) where() (string, []any, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		ph, a := placeholders(f.States)
		where = append(where, "state IN ("+ph+")")
		args = append(args, a...)
	}
	if f.RunID != "" {
		where = append(where, "run_id = ?")
		args = append(args, f.RunID)
	}
	if f.CancelRequested {
		where = append(where, "cancel_requested = 1")
	}
	if len(f.IDs) > 0 {
		// One bound value however many ids (see inList).
		b, _ := json.Marshal(f.IDs)
		where = append(where, "id IN (SELECT value FROM json_each(?))")
		args = append(args, string(b))
	}
	if len(f.ArrayIDs) > 0 {
		where = append(where, "array_id IN (SELECT value FROM json_each(?))")
		args = append(args, encodeIDs(f.ArrayIDs))
	}
	if len(f.ArrayIndexes) > 0 {
		where = append(where, "array_id != 0 AND array_index IN (SELECT value FROM json_each(?))")
		args = append(args, encodeIDs(f.ArrayIndexes))
	}
	for k, v := range f.Labels {
		where = append(where, "json_extract(labels, '$.' || json_quote(?)) = ?")
		args = append(args, k, v)
	}
	if f.NameGlob != "" {
		if _, err := path.Match(f.NameGlob, ""); err != nil {
			return "", nil, fmt.Errorf("%q: %w", f.NameGlob, ErrBadPattern)
		}
		if !strings.Contains(f.NameGlob, `\`) {
			where = append(where, "name GLOB ?")
			args = append(args, f.NameGlob)
		}
	}
	if !f.EndedSince.IsZero() {
		// Each half on its index (jobs_state, jobs_ended): written as an OR,
		// the ORDER BY id makes SQLite scan every row instead.
		where = append(where, `id IN (SELECT id FROM jobs WHERE state IN ('queued', 'running')
			UNION ALL SELECT id FROM jobs WHERE ended_at >= ? AND state NOT IN ('queued', 'running'))`)
		args = append(args, ms(f.EndedSince))
	}
	if f.Ended {
		// NOT IN: no use of jobs_state, so ended_at picks jobs_ended, which covers both.
		where = append(where, "state NOT IN ('queued', 'running')")
	}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if !f.EndedBefore.IsZero() {
		where = append(where, "ended_at < ?")
		args = append(args, ms(f.EndedBefore))
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// nameMatches is the NameGlob rule on one name.
func (f JobFilter) nameMatches(name string) bool {
	if f.NameGlob == "" {
		return true
	}
	ok, _ := path.Match(f.NameGlob, name)
	return ok
}

// ListJobs returns the matching jobs ordered by id.
func (db *DB) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, fmt.Errorf("ledger: list jobs: %w", err)
	}
	rows, err := db.query(ctx, `SELECT `+jobCols+` FROM jobs`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: list jobs: %w", err)
		}
		if f.nameMatches(j.Name) {
			out = append(out, j)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: list jobs: %w", err)
	}
	return out, nil
}

// CountJobs returns how many jobs match f.
func (db *DB) CountJobs(ctx context.Context, f JobFilter) (int, error) {
	where, args, err := f.where()
	if err != nil {
		return 0, fmt.Errorf("ledger: count jobs: %w", err)
	}
	if f.NameGlob == "" {
		var n int
		if err := db.queryRow(ctx, `SELECT count(*) FROM jobs`+where, args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("ledger: count jobs: %w", err)
		}
		return n, nil
	}
	rows, err := db.query(ctx, `SELECT name FROM jobs`+where, args...)
	if err != nil {
		return 0, fmt.Errorf("ledger: count jobs: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return 0, fmt.Errorf("ledger: count jobs: %w", err)
		}
		if f.nameMatches(name) {
			n++
		}
	}
	return n, rows.Err()
}

// JobStart is what the scheduler records when it takes a queued job.
type JobStart struct {
	GPUUUIDs   []string
	LogPath    string // "": keep the one recorded at submit (an engine's job)
	StatusPath string
	Node       string    // where an engine runs it
	StartedAt  time.Time // when the engine started it; zero: now
}

// StartJob moves a queued job to running in one UPDATE ... RETURNING
// (attempts+1, started_at now, its GPUs and files) and links the runs with
// its run id. ok is false, with no change, when the job is not queued any
// more (cancelled meanwhile).
func (db *DB) StartJob(ctx context.Context, id int64, s JobStart) (j Job, ok bool, err error) {
	err = db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		startedAt := now
		if !s.StartedAt.IsZero() && s.StartedAt.Before(db.now()) {
			startedAt = ms(s.StartedAt)
		}
		uuids := s.GPUUUIDs
		if uuids == nil {
			uuids = []string{}
		}
		b, _ := json.Marshal(uuids)
		var e error
		start := jobMove(JobStarted)
		fromPH, fromArgs := placeholders(start.From)
		j, e = scanJob(tx.QueryRowContext(ctx, jobStartSQL(fromPH)+jobCols,
			append([]any{start.To, startedAt, string(b), s.LogPath, s.StatusPath, s.Node, id}, fromArgs...)...))
		if errors.Is(e, sql.ErrNoRows) {
			ok = false
			return nil
		}
		if e != nil {
			return fmt.Errorf("ledger: start job %d: %w", id, e)
		}
		ok = true
		// Runs of this run id seen from now on belong to this job.
		if _, e := tx.ExecContext(ctx, `UPDATE runs SET job_id = ? WHERE run_id = ? AND job_id IS NULL`, id, j.RunID); e != nil {
			return fmt.Errorf("ledger: link runs of job %d: %w", id, e)
		}
		why := fmt.Sprintf("attempt %d", j.Attempts)
		if len(j.GPUUUIDs) > 0 {
			why += " on " + strings.Join(j.GPUUUIDs, ",")
		}
		if j.Node != "" {
			why += " on node " + j.Node
		}
		return jobEvent(ctx, tx, now, id, JobQueued, start.To, why)
	})
	return j, ok, err
}

// RecordJobPIDs stores the processes of a running job (for adoption after
// a daemon restart).
func (db *DB) RecordJobPIDs(ctx context.Context, id int64, supervisorPID, pid, pgid int, startTicks uint64) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET supervisor_pid = ?, pid = ?, pgid = ?, start_ticks = ?
			WHERE id = ? AND state = 'running'`, supervisorPID, pid, pgid, int64(startTicks), id); err != nil {
			return fmt.Errorf("ledger: record pids of job %d: %w", id, err)
		}
		return nil
	})
}

// JobEnd is how a running job ended, as its supervisor recorded it (or
// Lost when nothing was recorded and its process is gone).
type JobEnd struct {
	EndedAt  time.Time // zero: now
	ExitCode *int
	Signal   string
	Reason   string // "timeout", "cancelled", "start failed: ...", or ""
	Lost     bool
}

// EndJob records the end of a running job and decides its state:
// cancelled when a cancel was requested (or the supervisor was cancelled),
// succeeded on exit 0, lost or failed otherwise. A failed or lost job with
// retries left goes back to queued with the same id and run id. It returns
// the job as stored; ok is false (no change) when the job was not running.
func (db *DB) EndJob(ctx context.Context, id int64, e JobEnd) (j Job, ok bool, err error) {
	err = db.inTx(ctx, func(tx *Tx) error {
		cur, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("ledger: end job %d: %w", id, err)
		}
		if cur.State != JobRunning {
			j, ok = cur, false
			return nil
		}
		now := db.now()
		ended := e.EndedAt
		if ended.IsZero() {
			ended = now
		}
		if cur.StartedAt != nil && ended.Before(*cur.StartedAt) {
			// An engine's clock says seconds, runner's start was its own
			// (ms): a job never ends before it started.
			ended = *cur.StartedAt
		}
		ev, why := outcome(cur, e)
		if (ev == JobExitedFailed || ev == JobVanished) && cur.Attempts <= cur.Retries {
			ev, why = JobRetried, fmt.Sprintf("retry %d of %d after: %s", cur.Attempts, cur.Retries, why)
		}
		to, err := NextJobState(cur.State, ev)
		if err != nil {
			return fmt.Errorf("ledger: end job %d: %w", id, err)
		}
		if ev == JobRetried {
			_, err = tx.ExecContext(ctx, jobEndCancelledSQL, to, why, ms(ended), intPtr(e.ExitCode), e.Signal, id)
		} else {
			_, err = tx.ExecContext(ctx, jobEndSQL, to, why, ms(ended), intPtr(e.ExitCode), e.Signal, id)
		}
		if err == nil {
			err = jobEvent(ctx, tx, ms(now), id, cur.State, to, why)
		}
		if err != nil {
			return fmt.Errorf("ledger: end job %d: %w", id, err)
		}
		j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		ok = err == nil
		return err
	})
	return j, ok, err
}

// outcome maps how a job ended to its event and a reason.
func outcome(cur Job, e JobEnd) (JobEvent, string) {
	switch {
	case cur.CancelRequested || e.Reason == "cancelled":
		return JobCancelledEv, "cancelled"
	case e.Lost:
		return JobVanished, "its process vanished without a recorded exit"
	case e.Reason == "timeout":
		return JobExitedFailed, fmt.Sprintf("timeout after %s", cur.Timeout)
	case e.Reason != "":
		return JobExitedFailed, e.Reason
	case e.ExitCode != nil && *e.ExitCode == 0:
		return JobExitedOK, ""
	case e.ExitCode != nil:
		return JobExitedFailed, fmt.Sprintf("exit code %d", *e.ExitCode)
	case e.Signal != "":
		return JobExitedFailed, "killed by " + e.Signal
	}
	return JobExitedFailed, "ended without an exit status"
}

// SkipJob moves a queued job to skipped with the reason (a dependency did
// not succeed); false if it was not queued.
func (db *DB) SkipJob(ctx context.Context, id int64, reason string) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		skip := jobMove(JobDependencyFail)
		fromPH, fromArgs := placeholders(skip.From)
		res, err := tx.ExecContext(ctx, jobSkipSQL(fromPH),
			append([]any{skip.To, reason, now, id}, fromArgs...)...)
		if err != nil {
			return fmt.Errorf("ledger: skip job %d: %w", id, err)
		}
		n, _ := res.RowsAffected()
		ok = n > 0
		if !ok {
			return nil
		}
		return jobEvent(ctx, tx, now, id, JobQueued, skip.To, reason)
	})
	return ok, err
}

// SetJobReasons stores why queued jobs wait (shown by `runner jobs`); only
// changed reasons are written.
func (db *DB) SetJobReasons(ctx context.Context, reasons map[int64]string) error {
	if len(reasons) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *Tx) error {
		st, err := tx.stmt(ctx, `UPDATE jobs SET reason = ? WHERE id = ? AND state = 'queued' AND reason != ?`)
		if err != nil {
			return fmt.Errorf("ledger: job reasons: %w", err)
		}
		for id, r := range reasons {
			if _, err := st.ExecContext(ctx, r, id, r); err != nil {
				return fmt.Errorf("ledger: job %d reason: %w", id, err)
			}
		}
		return nil
	})
}

// SetRunningNote stores a note about a running job in its reason (shown by
// `runner jobs`), such as a sharing job using more GPU memory than it asked.
func (db *DB) SetRunningNote(ctx context.Context, id int64, note string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET reason = ? WHERE id = ? AND state = 'running'`, note, id); err != nil {
			return fmt.Errorf("ledger: note on job %d: %w", id, err)
		}
		return nil
	})
}

// CancelJob cancels a job: a queued one becomes cancelled at once, a
// running one gets cancel_requested (the scheduler stops its process group
// and records the end). It returns the job after the change; a job that
// already ended gives an error wrapping ErrJobEnded, an unknown id one
// wrapping ErrNotFound.
func (db *DB) CancelJob(ctx context.Context, id int64) (Job, error) {
	var out Job
	err := db.inTx(ctx, func(tx *Tx) error {
		cur, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("ledger: cancel job %d: %w", id, err)
		}
		now := ms(db.now())
		to, illegal := NextJobState(cur.State, JobCancelledEv)
		switch {
		case illegal != nil:
			return fmt.Errorf("job %d is %s: %w", id, cur.State, ErrJobEnded)
		case cur.State == JobQueued:
			if _, err := tx.ExecContext(ctx, jobCancelQueuedSQL, to, now, id); err != nil {
				return fmt.Errorf("ledger: cancel job %d: %w", id, err)
			}
			if err := jobEvent(ctx, tx, now, id, cur.State, to, "cancelled before it started"); err != nil {
				return err
			}
		default:
			// Running: the move happens when its processes are stopped and
			// the end is recorded (EndJob); now only the request is.
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET cancel_requested = 1 WHERE id = ?`, id); err != nil {
				return fmt.Errorf("ledger: cancel job %d: %w", id, err)
			}
			if err := addEvent(ctx, tx, now, "job.cancel", jobSubject(id), "cancel requested"); err != nil {
				return err
			}
		}
		out, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		return err
	})
	return out, err
}

// SetJobTelemetry stores a running job's GPU telemetry so far. Peak memory
// only grows (a restarted daemon starts a new aggregate).
func (db *DB) SetJobTelemetry(ctx context.Context, id int64, peakMem uint64, meanUtil, energyJ *float64) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET peak_mem = max(coalesce(peak_mem, 0), ?),
			mean_util = coalesce(?, mean_util), energy_j = coalesce(?, energy_j) WHERE id = ?`,
			int64(peakMem), floatPtr(meanUtil), floatPtr(energyJ), id); err != nil {
			return fmt.Errorf("ledger: job %d telemetry: %w", id, err)
		}
		return nil
	})
}

func floatPtr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// JobActiveForRun reports whether a job with this run id is queued or
// running: the runs of a pipeline are not complete until every stage ended.
func (db *DB) JobActiveForRun(ctx context.Context, runID string) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM jobs WHERE run_id = ? AND state IN ('queued', 'running')`,
		runID).Scan(&n); err != nil {
		return false, fmt.Errorf("ledger: jobs of run %s: %w", runID, err)
	}
	return n > 0, nil
}

// JobCounts returns the number of jobs in each state; every state is present.
func (db *DB) JobCounts(ctx context.Context) (map[JobState]int, error) {
	out := make(map[JobState]int, len(AllJobStates))
	for _, s := range AllJobStates {
		out[s] = 0
	}
	rows, err := db.query(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("ledger: job counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s JobState
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("ledger: job counts: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}

const gpuSnapshotKey = "gpus.snapshot"

// SetGPUSnapshot stores the daemon's latest view of the GPUs (JSON) so
// `runner status` and `runner gpus` need no NVML.
func (db *DB) SetGPUSnapshot(ctx context.Context, snapshotJSON string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			gpuSnapshotKey, snapshotJSON, ms(db.now())); err != nil {
			return fmt.Errorf("ledger: GPU snapshot: %w", err)
		}
		return nil
	})
}

// GPUSnapshot returns the last snapshot stored by SetGPUSnapshot and when;
// ok is false when none was ever stored.
func (db *DB) GPUSnapshot(ctx context.Context) (snapshotJSON string, at time.Time, ok bool, err error) {
	var v int64
	err = db.queryRow(ctx, `SELECT value, updated_at FROM settings WHERE key = ?`, gpuSnapshotKey).Scan(&snapshotJSON, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("ledger: GPU snapshot: %w", err)
	}
	return snapshotJSON, fromMS(v), true, nil
}

// EngineSubmit is what an engine's submission gave a job: the engine's id
// for it and where its output goes.
type EngineSubmit struct {
	EngineID string
	LogPath  string
}

// SetEngineIDs records what an engine gave jobs at submit (by job id), so
// the daemon can follow them, also after a restart.
func (db *DB) SetEngineIDs(ctx context.Context, ids map[int64]EngineSubmit) error {
	return db.inTx(ctx, func(tx *Tx) error {
		for id, e := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET engine_id = ?, log_path = ? WHERE id = ?`, e.EngineID, e.LogPath, id); err != nil {
				return fmt.Errorf("ledger: record engine id of job %d: %w", id, err)
			}
		}
		return nil
	})
}

// RefuseJobs records that the engine refused to take queued jobs (sbatch
// failed): they fail with reason, and nothing will run them.
func (db *DB) RefuseJobs(ctx context.Context, ids []int64, reason string) (refused []int64, err error) {
	m := jobMove(JobRefused)
	err = db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		refused = refused[:0]
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, jobRefuseSQL,
				m.To, reason, now, id, JobQueued)
			if err != nil {
				return fmt.Errorf("ledger: refuse job %d: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				refused = append(refused, id)
				if err := jobEvent(ctx, tx, now, id, JobQueued, m.To, reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return refused, err
}

// ParseJobStates reads a comma list of job states (runner jobs --state
// running,queued); an unknown one is an error naming the valid ones.
func ParseJobStates(list string) ([]JobState, error) {
	var out []JobState
	for _, w := range strings.Split(list, ",") {
		s := JobState(strings.TrimSpace(w))
		if !slices.Contains(AllJobStates, s) {
			return nil, fmt.Errorf("invalid state %q: want a comma list of %s", s, joinStates(AllJobStates))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func joinStates(list []JobState) string {
	w := make([]string, len(list))
	for i, s := range list {
		w[i] = string(s)
	}
	return strings.Join(w, ", ")
}

// queuePausedKey marks the whole job queue paused (runner pause): queued
// jobs stay queued, running ones go on.
const queuePausedKey = jobSettingPrefix + "paused"

// SetQueuePaused pauses (or resumes) the job queue; changed is false when
// it already was so.
func (db *DB) SetQueuePaused(ctx context.Context, paused bool) (changed bool, err error) {
	err = db.inTx(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		if paused {
			res, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, '1', ?)
				ON CONFLICT (key) DO NOTHING`, queuePausedKey, ms(db.now()))
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, queuePausedKey)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ledger: pause queue: %w", err)
	}
	return changed, nil
}

// QueuePaused reports whether the job queue is paused.
func (db *DB) QueuePaused(ctx context.Context) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM settings WHERE key = ?`, queuePausedKey).Scan(&n); err != nil {
		return false, fmt.Errorf("ledger: queue paused: %w", err)
	}
	return n > 0, nil
}

// jobSettingPrefix starts the settings rows of the job queue (the pause,
// and runner config's limits): the scheduler reads them all in one query
// at the top of each plan (JobSettings).
const jobSettingPrefix = "jobs."

// SetJobSetting stores the job queue's setting key (without the "jobs."
// prefix); value "" removes it. changed is false when it already was so.
func (db *DB) SetJobSetting(ctx context.Context, key, value string) (changed bool, err error) {
	err = db.inTx(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		if value == "" {
			res, err = tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, jobSettingPrefix+key)
		} else {
			res, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
				WHERE value != excluded.value`, jobSettingPrefix+key, value, ms(db.now()))
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ledger: job setting %s: %w", key, err)
	}
	return changed, nil
}

// JobSettings is every setting of the job queue, by key without the
// "jobs." prefix ("paused" while runner pause holds).
func (db *DB) JobSettings(ctx context.Context) (map[string]string, error) {
	rows, err := db.query(ctx, `SELECT key, value FROM settings WHERE key >= ? AND key < ?`, jobSettingPrefix, "jobs/")
	if err != nil {
		return nil, fmt.Errorf("ledger: job settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("ledger: job settings: %w", err)
		}
		out[strings.TrimPrefix(k, jobSettingPrefix)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: job settings: %w", err)
	}
	return out, nil
}
