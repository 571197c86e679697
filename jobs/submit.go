package jobs

// Submitting jobs: the rules a submit is checked against, the environment it
// captures, and the hand-over to an engine (docs/design.md "Jobs",
// "Executors"). The command line reads the flags; everything from the
// parsed specs on happens here, so any front end submits the same way.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
)

// SubmitStore is what a submit needs from the ledger.
type SubmitStore interface {
	JobGetter
	Path() string
	DaemonStater
	GPUSnapshot(ctx context.Context) (snapshotJSON string, at time.Time, ok bool, err error)
	SubmitJobs(ctx context.Context, specs []ledger.JobSpec, inArray bool) ([]ledger.Job, error)
	SetEngineIDs(ctx context.Context, ids map[int64]ledger.EngineSubmit) error
	RefuseJobs(ctx context.Context, ids []int64, reason string) (refused []int64, err error)
	CleanStore
}

var _ SubmitStore = (*ledger.DB)(nil)

// Refusal is a submit refused as asked: the user has to ask differently
// (the command line's exit 2). Err says why.
type Refusal struct{ Err error }

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

func refusef(format string, a ...any) error { return &Refusal{Err: fmt.Errorf(format, a...)} }

// SubmitRequest is one submit: a job, or the jobs of one array.
type SubmitRequest struct {
	Specs   []ledger.JobSpec
	InArray bool
	// Executor runs the jobs; "" is the daemon's default (local when no
	// daemon ever said).
	Executor ledger.Executor
	Environ  []string // the submitter's environment
	EnvKeep  []string // names passed although credential-like (--env-keep)
	EnvClear bool     // pass only EnvKeep (--env-clear)
	UID, GID int
	Owner    string
	// ForCaller: the root daemon submits for a socket caller (UID): files
	// are theirs and an engine's commands run as them.
	ForCaller bool
	Logger    *slog.Logger
	// Notices gets a line when an engine took the jobs, or when nothing
	// will start local ones (no daemon running).
	Notices io.Writer
	Now     func() time.Time
}

// Submit checks and queues the request's jobs, hands engine jobs to their
// engine, and wakes the scheduler. A refusal is a *Refusal.
func Submit(ctx context.Context, db SubmitStore, r SubmitRequest) ([]ledger.Job, error) {
	specs, first := r.Specs, r.Specs[0]
	d, err := db.DaemonState(ctx)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	ex := r.Executor
	if ex == "" {
		ex = ledger.ExecutorLocal
		if d != nil && d.Executor != "" {
			ex = d.Executor
		}
	}
	var deps map[Need][]string
	if ex != ledger.ExecutorLocal {
		if err := refuseForEngine(ex, first); err != nil {
			return nil, err
		}
		if d == nil || d.JobsWandbDir == "" {
			return nil, fmt.Errorf("submit: --executor %s: no daemon has run on this ledger yet; start runner daemon (its --jobs-wandb-dir is the jobs' WANDB_DIR)", ex)
		}
		if deps, err = engineDeps(ctx, db, ex, first); err != nil {
			return nil, err
		}
	}
	if !first.Held && ex == ledger.ExecutorLocal {
		if err := refuseNeverFits(ctx, db, first); err != nil {
			return nil, err
		}
	}
	if first.MemMax > 0 && ex == ledger.ExecutorLocal && (d == nil || !d.JobUnits) {
		// Elsewhere no per-job memory limit exists.
		return nil, refusef("submit: %w; this daemon starts jobs as its own processes", ErrMemNeedsUnits)
	}
	environ := r.Environ
	if r.EnvClear {
		environ = Only(environ, r.EnvKeep)
	}
	captured := Capture(environ, r.EnvKeep)
	if len(captured.Dropped) > 0 && r.Logger != nil {
		r.Logger.Debug("submit: credential-like variables not passed to the job (--env-keep NAME passes one)", "names", captured.Dropped)
	}
	// One file for all the jobs of an array: they were submitted together.
	// An engine's jobs get the environment from sbatch, at submit: no file.
	envFile := ""
	if ex == ledger.ExecutorLocal {
		envFile, err = WriteEnvFile(EnvDir(filepath.Dir(db.Path())), captured.Env)
		if err != nil {
			return nil, fmt.Errorf("submit: %w", err)
		}
	}
	if envFile != "" && r.ForCaller {
		// Written by the root daemon for a socket caller: the file
		// belongs to the job's owner, like its log.
		if err := os.Chown(envFile, r.UID, r.GID); err != nil {
			_ = RemoveEnvFile(envFile)
			return nil, fmt.Errorf("submit: %w", err)
		}
	}
	names := captured.Names()
	for i := range specs {
		specs[i].EnvFile, specs[i].EnvNames, specs[i].OwnerUID, specs[i].Owner = envFile, names, r.UID, r.Owner
		specs[i].Executor = ex
	}
	list, err := db.SubmitJobs(ctx, specs, r.InArray)
	if err != nil {
		_ = RemoveEnvFile(envFile) // never queued: nothing will read it
	}
	switch {
	case errors.Is(err, ledger.ErrBadJob) || errors.Is(err, ledger.ErrSecretInEnv):
		return nil, &Refusal{Err: fmt.Errorf("submit: %w", err)}
	case err != nil:
		return nil, fmt.Errorf("submit: %w", err)
	}
	sock := SockPath(db.Path())
	if ex != ledger.ExecutorLocal {
		sub := engineSubmission(list, first, captured.Env, d.JobsWandbDir, r.InArray)
		sub.After, sub.AfterAny, sub.AfterNotOK = deps[NeedSuccess], deps[NeedEnd], deps[NeedNotOK]
		// sbatch runs as the caller, so Slurm authenticates and accounts
		// them, not root. (The jobs are in sub either way: a failure here
		// is recorded on them.)
		var err error
		sub.User, err = AsCaller(r.ForCaller, r.UID)
		if err = submitToEngine(ctx, db, ex, sub, err, r.Notices); err != nil {
			Poke(sock)
			return nil, err
		}
	}
	Poke(sock)
	if ex == ledger.ExecutorLocal && r.Notices != nil {
		if block, err := QueueBlock(ctx, db, r.Now()); err == nil && block != "" {
			fmt.Fprintln(r.Notices, blockNotice(list, block))
		}
	}
	return list, nil
}

// AsCaller is who an engine command runs as: the socket caller uid when
// the root daemon runs it for them (forCaller), else this process's user
// (nil).
func AsCaller(forCaller bool, uid int) (*User, error) {
	if !forCaller {
		return nil, nil
	}
	return LookupUser(uid)
}

// refuseForEngine refuses what an engine cannot honour: the local
// scheduler's GPU sharing, retries and priorities.
func refuseForEngine(ex ledger.Executor, s ledger.JobSpec) error {
	var bad []string
	if s.GPUMem > 0 || s.Share {
		bad = append(bad, "--gpu-mem/--share (Slurm allocates whole GPUs: --gpus N)")
	}
	if s.Retries > 0 {
		bad = append(bad, "--retries (Slurm requeues by its own rules; runner requeue is for local jobs)")
	}
	if s.Priority != 0 {
		bad = append(bad, "--priority (Slurm orders its queue by its own priorities)")
	}
	if len(bad) > 0 {
		return refusef("submit: --executor %s cannot honour %s", ex, strings.Join(bad, "; "))
	}
	return nil
}

// refuseNeverFits refuses a GPU job the daemon's last view of the GPUs
// (nvml or fake) says can never run here; with no view, or no GPUs (no
// driver, --gpus none), the job is queued and waits with a reason.
func refuseNeverFits(ctx context.Context, db SubmitStore, spec ledger.JobSpec) error {
	why, err := neverFits(ctx, db, spec.GPUs, spec.GPUMem)
	if err != nil || why == "" {
		return err
	}
	return refusef("submit: this job can never run: %s; --hold queues it anyway", why)
}

// gpuSnapshotter is the daemon's last view of the GPUs.
type gpuSnapshotter interface {
	GPUSnapshot(ctx context.Context) (snapshotJSON string, at time.Time, ok bool, err error)
}

// neverFits says why a job of gpus GPUs with gpuMem each can never run on
// the GPUs the daemon last saw, naming them; "" when it may, or when there
// is no view to tell.
func neverFits(ctx context.Context, db gpuSnapshotter, gpus int, gpuMem uint64) (string, error) {
	if gpus == 0 {
		return "", nil
	}
	raw, _, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok {
		return "", err
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(raw), &snap); err != nil || len(snap.GPUs) == 0 {
		return "", nil // an unreadable view decides nothing; the scheduler will
	}
	why := NeverFits(snap.Devices(), Want{GPUs: gpus, GPUMem: gpuMem})
	if why == "" {
		return "", nil
	}
	var names []string
	for _, g := range snap.GPUs {
		names = append(names, fmt.Sprintf("%d: %s %s", g.Index, g.Name, units.FormatSize(g.MemoryTotal)))
	}
	return fmt.Sprintf("it %s (%s GPUs: %s)", why, snap.Inventory, strings.Join(names, ", ")), nil
}

// engineDeps turns a spec's --after, --after-any and --after-notok job ids
// into engine ids, by need. A dependency already met is left out; one that
// never will be (Verdict) is refused; a local job cannot be waited for by an
// engine.
func engineDeps(ctx context.Context, db JobGetter, ex ledger.Executor, s ledger.JobSpec) (map[Need][]string, error) {
	out := map[Need][]string{}
	for _, d := range Needs(ledger.Job{After: s.After, AfterAny: s.AfterAny, AfterNotOK: s.AfterNotOK}) {
		flag := d.Need.Flag()
		j, err := db.GetJob(ctx, d.ID)
		if err != nil {
			return nil, refusef("submit: %s %d: %v", flag, d.ID, err)
		}
		met, never := Verdict(d.Need, j.State)
		switch {
		case met:
			continue
		case never:
			return nil, refusef("submit: %s %d: that job %s; this one would never run", flag, d.ID, j.State)
		case j.Executor != ex || j.EngineID == "":
			return nil, refusef("submit: %s %d: that job runs on the %s executor; a %s job can only wait for %s jobs", flag, d.ID, j.Executor, ex, ex)
		}
		out[d.Need] = append(out[d.Need], j.EngineID)
	}
	return out, nil
}

// engineSubmission is what the engine gets for the jobs just queued.
func engineSubmission(list []ledger.Job, first ledger.JobSpec, captured []string, wandbDir string, inArray bool) Submission {
	sub := Submission{
		Array: inArray, ArrayLimit: first.ArrayLimit, Name: first.Name, GPUs: first.GPUs, CPUs: first.CPUs,
		MemMax: first.MemMax, Timeout: first.Timeout, Dir: list[0].Cwd, Env: SubmitterEnv(captured), Hold: first.Held,
	}
	for _, j := range list {
		sub.Jobs = append(sub.Jobs, EngineJob{
			ID: j.ID, ArrayIndex: j.ArrayIndex, Argv: j.Argv,
			Env: EngineEnv(Spec{ID: j.ID, Env: j.Env, RunID: j.RunID, WandbDir: wandbDir, RunGroup: j.RunGroup,
				ArrayID: j.ArrayID, ArrayIndex: j.ArrayIndex}),
			LogPath: SlurmLogPath(j.Cwd, j.ID, j.ArrayID, j.ArrayIndex, inArray),
			Stdout:  expandSet(j.Output, j), Stderr: expandSet(j.Error, j),
		})
	}
	return sub
}

// expandSet is ExpandOutput of a pattern that is set ("" stays "").
func expandSet(pattern string, j ledger.Job) string {
	if pattern == "" {
		return ""
	}
	return ExpandOutput(pattern, j)
}

// submitToEngine hands the queued jobs to their engine and records its ids.
// When the engine refuses (or the submission could not be made: prepErr),
// nothing is kept: the jobs are recorded refused (an event with the
// engine's words) and then removed, as a refused sbatch leaves no job, so
// no failed row and no empty engine column stays behind in runner jobs.
func submitToEngine(ctx context.Context, db SubmitStore, ex ledger.Executor, sub Submission, prepErr error, notices io.Writer) error {
	ids := make([]int64, len(sub.Jobs))
	for i, j := range sub.Jobs {
		ids[i] = j.ID
	}
	eids, err := []string(nil), prepErr
	if err == nil {
		eids, err = NewEngine(ex).Submit(ctx, sub)
	}
	if err != nil {
		// Recorded with a fresh context: a Ctrl-C must not leave them queued.
		bg := context.WithoutCancel(ctx)
		if _, rerr := db.RefuseJobs(bg, ids, err.Error()); rerr != nil {
			return fmt.Errorf("submit: %w (and recording it: %v)", err, rerr)
		}
		if _, cerr := Clean(bg, db, CleanOptions{IDs: ids, States: []ledger.JobState{ledger.JobFailed}}); cerr != nil {
			return fmt.Errorf("submit: %w (the refused jobs stay failed: %v)", err, cerr)
		}
		return fmt.Errorf("submit: %w (nothing was queued)", err)
	}
	rec := make(map[int64]ledger.EngineSubmit, len(ids))
	for i, j := range sub.Jobs {
		rec[j.ID] = ledger.EngineSubmit{EngineID: eids[i], LogPath: j.LogPath}
	}
	if err := db.SetEngineIDs(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("submit: %s took the jobs (%s) but recording that failed: %w", ex, strings.Join(eids, ", "), err)
	}
	if notices != nil {
		engineID, _, _ := strings.Cut(eids[0], "_")
		fmt.Fprintf(notices, "runner: %s job %s\n", ex, engineID)
	}
	return nil
}

// CancelOnEngine stops an engine's job there, as the user as (nil: this
// process's user).
func CancelOnEngine(ctx context.Context, j ledger.Job, as *User) error {
	return NewEngine(j.Executor).Cancel(ctx, []string{j.EngineID}, as)
}

// HoldOnEngine holds or releases the engine's queued jobs among list there,
// as the user as names (asked only when there is one); local jobs are the
// scheduler's (the ledger's flag alone).
func HoldOnEngine(ctx context.Context, list []ledger.Job, hold bool, as func() (*User, error)) error {
	ids := map[ledger.Executor][]string{}
	for _, j := range list {
		if j.Executor != ledger.ExecutorLocal && j.EngineID != "" && j.State == ledger.JobQueued && j.Held != hold {
			ids[j.Executor] = append(ids[j.Executor], j.EngineID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	user, err := as()
	if err != nil {
		return err
	}
	for ex, eids := range ids {
		if err := NewEngine(ex).Hold(ctx, eids, hold, user); err != nil {
			return err
		}
	}
	return nil
}
