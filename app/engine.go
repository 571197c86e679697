package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// This file is the command line's side of executors other than local
// (docs/design.md "Executors"): submit hands the job to its engine as the
// submitting user, cancel stops it there; the daemon follows it.

// executorOf checks an --executor value.
func executorOf(v, cmd string) (ledger.Executor, error) {
	ex := ledger.Executor(v)
	if !slices.Contains(ledger.Executors, ex) {
		return "", usagef("%s: --executor %q: want local or slurm", cmd, v)
	}
	return ex, nil
}

// submitExecutor is submit's --executor, else the daemon's default.
func submitExecutor(c *cli.Context, d *ledger.Daemon) (ledger.Executor, error) {
	if c.IsSet("executor") {
		return executorOf(c.String("executor"), "submit")
	}
	if d != nil && d.Executor != "" {
		return d.Executor, nil
	}
	return ledger.ExecutorLocal, nil
}

// refuseForEngine is a usage error for what an engine cannot honour: the
// local scheduler's GPU sharing, retries and priorities.
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
		return usagef("submit: --executor %s cannot honour %s", ex, strings.Join(bad, "; "))
	}
	return nil
}

// engineDeps turns a spec's --after/--after-any job ids into engine ids. A
// dependency that already ended is left out (met), or, for --after, refused
// when it did not succeed; a local job cannot be waited for by an engine.
func engineDeps(ctx context.Context, db *ledger.DB, ex ledger.Executor, s ledger.JobSpec) (after, afterAny []string, err error) {
	conv := func(ids []int64, needSuccess bool) ([]string, error) {
		flag := "--after-any"
		if needSuccess {
			flag = "--after"
		}
		var out []string
		for _, id := range ids {
			j, err := db.GetJob(ctx, id)
			if err != nil {
				return nil, usagef("submit: %s %d: %v", flag, id, err)
			}
			switch {
			case j.State == ledger.JobSucceeded || j.State.Ended() && !needSuccess:
				continue
			case j.State.Ended():
				return nil, usagef("submit: %s %d: that job %s; this one would never run", flag, id, j.State)
			case j.Executor != ex || j.EngineID == "":
				return nil, usagef("submit: %s %d: that job runs on the %s executor; a %s job can only wait for %s jobs", flag, id, j.Executor, ex, ex)
			}
			out = append(out, j.EngineID)
		}
		return out, nil
	}
	if after, err = conv(s.After, true); err != nil {
		return nil, nil, err
	}
	afterAny, err = conv(s.AfterAny, false)
	return after, afterAny, err
}

// engineSubmission is what the engine gets for the jobs just queued.
func engineSubmission(env Env, list []ledger.Job, first ledger.JobSpec, captured []string, wandbDir string, inArray bool) (jobs.Submission, error) {
	sub := jobs.Submission{
		Array: inArray, ArrayLimit: first.ArrayLimit, Name: first.Name, GPUs: first.GPUs, CPUs: first.CPUs,
		MemMax: first.MemMax, Timeout: first.Timeout, Dir: list[0].Cwd, Env: jobs.SubmitterEnv(captured), Hold: first.Held,
	}
	for _, j := range list {
		sub.Jobs = append(sub.Jobs, jobs.EngineJob{
			ID: j.ID, ArrayIndex: j.ArrayIndex, Argv: j.Argv,
			Env: jobs.EngineEnv(jobs.Spec{ID: j.ID, Env: j.Env, RunID: j.RunID, WandbDir: wandbDir, RunGroup: j.RunGroup,
				ArrayID: j.ArrayID, ArrayIndex: j.ArrayIndex}),
			LogPath: jobs.SlurmLogPath(j.Cwd, j.ID, j.ArrayID, j.ArrayIndex, inArray),
		})
	}
	// The root daemon runs submit for a socket caller: sbatch runs as
	// them, so Slurm authenticates and accounts them, not root. (The jobs
	// are in sub either way: a failure here is recorded on them.)
	u, err := engineUser(env)
	sub.User = u
	return sub, err
}

// submitToEngine hands the queued jobs to their engine and records its ids;
// when the engine refuses (or the submission could not be made: prepErr),
// the jobs are recorded failed with its words.
func submitToEngine(ctx context.Context, env Env, db *ledger.DB, ex ledger.Executor, sub jobs.Submission, prepErr error) error {
	ids := make([]int64, len(sub.Jobs))
	for i, j := range sub.Jobs {
		ids[i] = j.ID
	}
	eids, err := []string(nil), prepErr
	if err == nil {
		eids, err = jobs.NewEngine(ex).Submit(ctx, sub)
	}
	if err != nil {
		// Recorded with a fresh context: a Ctrl-C must not leave them queued.
		if _, rerr := db.RefuseJobs(context.WithoutCancel(ctx), ids, err.Error()); rerr != nil {
			return fmt.Errorf("submit: %w (and recording it: %v)", err, rerr)
		}
		return fmt.Errorf("submit: %w", err)
	}
	rec := make(map[int64]ledger.EngineSubmit, len(ids))
	for i, j := range sub.Jobs {
		rec[j.ID] = ledger.EngineSubmit{EngineID: eids[i], LogPath: j.LogPath}
	}
	if err := db.SetEngineIDs(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("submit: %s took the jobs (%s) but recording that failed: %w", ex, strings.Join(eids, ", "), err)
	}
	engineID, _, _ := strings.Cut(eids[0], "_")
	fmt.Fprintf(env.Stderr, "runner: %s job %s\n", ex, engineID)
	return nil
}

// engineUser is who an engine command runs as: the socket caller when the
// root daemon runs it for them (nil: this process's user).
func engineUser(env Env) (*jobs.User, error) {
	if env.Caller != nil && os.Geteuid() == 0 {
		return jobs.LookupUser(env.Caller.UID)
	}
	return nil, nil
}

// cancelOnEngine stops an engine's job there, as the caller.
func cancelOnEngine(ctx context.Context, env Env, j ledger.Job) error {
	as, err := engineUser(env)
	if err != nil {
		return err
	}
	return jobs.NewEngine(j.Executor).Cancel(ctx, []string{j.EngineID}, as)
}

// holdOnEngine holds or releases the engine's queued jobs among list there,
// as the caller; local jobs are the scheduler's (the ledger's flag alone).
func holdOnEngine(ctx context.Context, env Env, list []ledger.Job, hold bool) error {
	ids := map[ledger.Executor][]string{}
	for _, j := range list {
		if j.Executor != ledger.ExecutorLocal && j.EngineID != "" && j.State == ledger.JobQueued && j.Held != hold {
			ids[j.Executor] = append(ids[j.Executor], j.EngineID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	as, err := engineUser(env)
	if err != nil {
		return err
	}
	for ex, eids := range ids {
		if err := jobs.NewEngine(ex).Hold(ctx, eids, hold, as); err != nil {
			return err
		}
	}
	return nil
}

// localQueueOnly refuses requeue of an engine's job: an ended Slurm job is
// not run again under its id; submit it again.
func localQueueOnly(j ledger.Job, cmd string) error {
	if j.Executor == ledger.ExecutorLocal {
		return nil
	}
	return usagef("job %d ran under %s (job %s): %s runs only local jobs again; submit it again", j.ID, j.Executor, dash(j.EngineID), cmd)
}
