package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// sweepContentFlag carries a --sweep file's content over the socket.
const sweepContentFlag = "sweep-content"

// submitName is the one command whose arguments are not reordered: its
// command line starts at the first argument that is not a flag (commandAsTyped).
const submitName = "submit"

func submitCommand(env Env) *cli.Command {
	gpus := intFlag("gpus", "GPUs the job needs (0: a CPU job that sees no GPU)", 0)
	return &cli.Command{
		Name:      submitName,
		Usage:     "queue a job; prints its id (runner's flags go before the command; the command is kept as typed)",
		ArgsUsage: "[flags] [--] CMD ARGS...",
		Flags: []cli.Flag{
			gpus,
			stringFlag("gpu-mem", "free memory each GPU must have, like 20GiB (with --share: the memory the job asks for on each GPU)", ""),
			boolFlag("share", "share GPUs with other --share jobs while their --gpu-mem fits (needs --gpu-mem)"),
			withDefault(intFlag("cpus", "CPU slots the job takes", -1), "1 for a CPU job, 0 for a GPU job"),
			stringFlag("mem", "the most host memory the job may use, like 64GiB (its systemd unit's MemoryMax=; needs jobs run as units)", ""),
			stringFlag("name", "a name to show in runner jobs (for an array: its W&B run group too)", ""),
			intFlag("priority", "higher runs first", 0),
			listFlag("after", "start only after job ID succeeded (repeatable); skipped if it does not"),
			listFlag("after-any", "start only after job ID ended, whatever its result (repeatable)"),
			listFlag("after-notok", "start only after job ID failed, was cancelled, skipped or lost (repeatable); skipped if it succeeded"),
			stringFlag("output", "write the job's stdout (and stderr, without --error) to this file, appended; %j: job id, %x: name; relative: to --cwd", ""),
			stringFlag("error", "write the job's stderr to this file instead (same patterns)", ""),
			stringFlag("notify", "after the job ends, the daemon runs this shell command as you with RUNNER_JOB_ID, RUNNER_JOB_STATE, RUNNER_JOB_EXIT_CODE... set", ""),
			boolFlag("same-run", "log into the same W&B run as the one --after job (WANDB_RUN_ID)"),
			intFlag("retries", "re-queue a failed job this many times (same id and run id)", 0),
			durationFlag("timeout", "stop the job (SIGTERM, then SIGKILL) after this long; 0 = never", 0),
			listFlag("env", "K=V set in the job's environment, on top of yours (repeatable; not for secrets)"),
			listFlag("env-keep", "pass this credential-like variable (WANDB_API_KEY, *_TOKEN...) from your environment to the job (repeatable)"),
			boolFlag("env-clear", "start the job from an empty environment plus --env and --env-keep, not the environment of this call"),
			listFlag("label", "K=V to find the job by (runner jobs --label K=V; repeatable)"),
			stringFlag("array", "an array of jobs: indexes like 0-99 or 1,3,8-10, and %K for at most K running (RUNNER_ARRAY_INDEX)", ""),
			stringFlag("sweep", "a YAML or JSON grid {key: [values...]}: one job per point, --key value appended to its command", ""),
			// The --sweep file's content, read by the CLI for a socket caller
			// (forward): the root daemon reads no file on a user's behalf.
			&cli.StringFlag{Name: sweepContentFlag, Hidden: true},
			withDefault(stringFlag("cwd", "working directory of the job", ""), "the current one"),
			withDefault(stringFlag("executor", "where the job runs: local (this host's GPUs) or slurm (sbatch as you)", ""), "the daemon's --executor"),
			boolFlag("hold", "queue the job held: it starts after runner release (and may need more GPUs than this machine has)"),
			boolFlag("wait", "wait for the job, printing its output, and exit with its exit code (as runner wait)"),
			durationFlag("wait-timeout", "with --wait: give up after this long (exit 124)", 0),
			boolFlag("json", "print {id, run_id, state} (an array: with its jobs)"),
		},
		Action: func(c *cli.Context) error {
			spec, err := submitSpec(c, env)
			if err != nil {
				return err
			}
			specs, inArray, err := expandSubmit(c, env, spec)
			if err != nil {
				return err
			}
			var list []ledger.Job
			err = withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				list, err = submitJobs(c, env, db, logger, specs, inArray)
				return err
			})
			if err != nil || !c.Bool("wait") {
				return err
			}
			return submitWait(c, env, list, inArray)
		},
	}
}

// expandSubmit turns one submit into its jobs (jobs.Expand). A --sweep
// file is read here; for a socket caller the CLI sent its content along
// (forward): the root daemon reads no file on a user's behalf.
func expandSubmit(c *cli.Context, env Env, base ledger.JobSpec) ([]ledger.JobSpec, bool, error) {
	sweep := c.String("sweep")
	specs, inArray, err := jobs.Expand(base, c.String("array"), sweep, func() ([]byte, error) {
		switch {
		case c.IsSet(sweepContentFlag):
			return []byte(c.String(sweepContentFlag)), nil
		case env.Caller != nil:
			return nil, usagef("submit: --sweep: the daemon reads no file for a socket caller (use the same runner version as the daemon)")
		}
		data, err := os.ReadFile(sweep)
		if err != nil {
			return nil, usagef("submit: --sweep: %v", rundir.PathCause(err))
		}
		return data, nil
	})
	return specs, inArray, err
}

// submitJobs checks and queues specs (one job, or one array) with the
// caller's captured environment, and prints what was queued.
func submitJobs(c *cli.Context, env Env, db *ledger.DB, logger *slog.Logger, specs []ledger.JobSpec, inArray bool) ([]ledger.Job, error) {
	ex, err := submitExecutor(c)
	if err != nil {
		return nil, err
	}
	uid, gid, owner := env.owner()
	list, err := jobs.Submit(c.Context, db, jobs.SubmitRequest{
		Specs: specs, InArray: inArray, Executor: ex,
		Environ: env.Environ(), EnvKeep: c.StringSlice("env-keep"), EnvClear: c.Bool("env-clear"),
		UID: uid, GID: gid, Owner: owner, ForCaller: env.forCaller(), Logger: logger, Notices: env.Stderr, Now: env.Now,
	})
	if err != nil {
		return nil, err
	}
	switch {
	case c.Bool("json"):
		return list, api.Write(env.Stdout, api.QueuedOf(list, inArray))
	case inArray && !c.Bool("wait"):
		fmt.Fprintf(env.Stdout, "%d\n", list[0].ArrayID)
		fmt.Fprintf(env.Stderr, "array %d: %d jobs (%d-%d), W&B run group %s\n", list[0].ArrayID, len(list), list[0].ID, list[len(list)-1].ID, list[0].RunGroup)
	case !c.Bool("wait"):
		fmt.Fprintln(env.Stdout, list[0].ID)
	default:
		fmt.Fprintf(env.Stderr, "runner: submitted job %d\n", list[0].ID)
	}
	return list, nil
}

// submitWait is submit --wait: a single job's output is followed as it
// runs; an array is waited for. The exit is wait's.
func submitWait(c *cli.Context, env Env, list []ledger.Job, inArray bool) error {
	db, err := openReadOnly(c, env)
	if err != nil {
		return err
	}
	defer db.Close()
	timeout := durationOf(c, "wait-timeout")
	ended, err := jobs.SubmitWait(c.Context, env.Stdout, db, list, inArray, timeout, waitPoll, env.Now())
	if errors.Is(err, jobs.ErrWillNotStart) {
		return err
	}
	return waitOutcome(c.Context, env.Stderr, ended, err, timeout)
}

// submitSpec reads and checks submit's flags; every problem is a usage error.
func submitSpec(c *cli.Context, env Env) (ledger.JobSpec, error) {
	s := ledger.JobSpec{
		Name: c.String("name"), Argv: c.Args().Slice(), GPUs: c.Int("gpus"), Priority: c.Int("priority"),
		Retries: c.Int("retries"), Timeout: durationOf(c, "timeout"), Env: c.StringSlice("env"),
		SameRun: c.Bool("same-run"), Cwd: c.String("cwd"), Held: c.Bool("hold"), Share: c.Bool("share"),
		CPUs: c.Int("cpus"), Notify: c.String("notify"),
	}
	if s.CPUs < -1 {
		return s, usagef("submit: --cpus must not be negative")
	}
	var err error
	if s.Labels, err = jobs.ParseLabels(c.Command.Name, c.StringSlice("label")); err != nil {
		return s, err
	}
	if len(s.Argv) == 0 {
		return s, usagef("submit: missing the job command: runner submit [flags] -- CMD ARGS...")
	}
	if s.GPUs < 0 || s.Retries < 0 {
		return s, usagef("submit: --gpus and --retries must not be negative")
	}
	if m := c.String("gpu-mem"); m != "" {
		v, err := units.ParseSize(m)
		if err != nil {
			return s, usagef("submit: --gpu-mem: %v", err)
		}
		s.GPUMem = v
	}
	if m := c.String("mem"); m != "" {
		v, err := units.ParseSize(m)
		if err != nil || v == 0 {
			return s, usagef("submit: --mem %q: want a size like 64GiB", m)
		}
		s.MemMax = v
	}
	for _, f := range []struct {
		name string
		ids  *[]int64
	}{{"after", &s.After}, {"after-any", &s.AfterAny}, {"after-notok", &s.AfterNotOK}} {
		for _, a := range c.StringSlice(f.name) {
			id, err := strconv.ParseInt(a, 10, 64)
			if err != nil || id <= 0 {
				return s, usagef("submit: --%s %q: want a job id", f.name, a)
			}
			*f.ids = append(*f.ids, id)
		}
	}
	if s.Share && s.GPUMem == 0 {
		return s, usagef("submit: --share needs --gpu-mem: the memory the job asks for on each GPU")
	}
	if s.SameRun && len(s.After) != 1 {
		return s, usagef("submit: --same-run needs exactly one --after (got %d)", len(s.After))
	}
	if s.Cwd == "" {
		wd, err := env.getwd()
		if err != nil {
			return s, fmt.Errorf("submit: working directory: %w", err)
		}
		s.Cwd = wd
	}
	if s.Output, s.Error, err = jobs.OutputPatterns(c.String("output"), c.String("error"), s.Cwd); err != nil {
		return s, usagef("submit: %v", err)
	}
	return s, nil
}
