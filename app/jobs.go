package app

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/text"
)

func jobsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "jobs",
		Usage:     "list queued, held, running and recently ended jobs (--all: every job); with an ID, every field of one job",
		ArgsUsage: "[ID]",
		Flags: []cli.Flag{
			stringFlag("state", "only jobs in these states, a comma list (queued, running, succeeded, failed, cancelled, skipped, lost), however old", ""),
			boolFlag("all", "every job, also those that ended more than 24h ago"),
			stringFlag("name", "only jobs whose name matches this shell pattern (path.Match)", ""),
			listFlag("label", "only jobs with this label K=V (repeatable: all of them)"),
			intFlag("array", "only the jobs of this array (its id), each task on its own row", 0),
			stringFlag("format", "the columns, a comma list ("+text.JobColumns+")", ""),
			boolFlag("no-header", "leave out the header line"),
			boolFlag("json", "print a JSON array"),
		},
		Action: func(c *cli.Context) error {
			labels, err := jobs.ParseLabels(c.Command.Name, c.StringSlice("label"))
			if err != nil {
				return err
			}
			f := ledger.JobFilter{NameGlob: c.String("name"), Labels: labels}
			if a := c.Int("array"); a != 0 {
				f.ArrayIDs = []int64{int64(a)}
			}
			if s := c.String("state"); s != "" {
				var err error
				if f.States, err = ledger.ParseJobStates(s); err != nil {
					return usagef("jobs: --state: %v", err)
				}
			}
			cols, err := text.ParseJobColumns(c.String("format"))
			if err != nil {
				return usagef("jobs: --format: %v", err)
			}
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			if c.Args().Len() == 1 {
				j, err := jobs.OneOf(c.Context, db, c.Args().First(), env.Now())
				if err != nil {
					return fmt.Errorf("jobs: %w", err)
				}
				return text.Fields(env.Stdout, api.JobOf(j))
			}
			view, err := jobs.List(c.Context, db, jobs.View{Filter: f, All: c.Bool("all"), Now: env.Now()})
			if errors.Is(err, ledger.ErrBadPattern) {
				return usagef("jobs: --name %v", err)
			}
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			list := view.Jobs
			if c.Bool("json") {
				out := make([]JobJSON, 0, len(list))
				for _, j := range list {
					out = append(out, api.JobOf(j))
				}
				return api.Write(env.Stdout, out)
			}
			index, err := status.GPUIndexes(c.Context, db)
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			text.Jobs(env.Stdout, list, text.JobTable{Cols: cols, Header: !c.Bool("no-header"), GPUIndex: index, Now: env.Now(),
				Width: env.width(env.Stdout), Collapse: c.Int("array") == 0}, env.palette(env.Stdout))
			switch {
			case view.Hidden == 1:
				fmt.Fprintln(env.Stderr, "1 older ended job not shown (--all)")
			case view.Hidden > 1:
				fmt.Fprintf(env.Stderr, "%d older ended jobs not shown (--all)\n", view.Hidden)
			}
			return nil
		},
	}
}

func openReadOnly(c *cli.Context, env Env) (*ledger.DB, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return nil, err
	}
	return openDB(c.Context, c, env, logger, true)
}

func logsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a job's output (stdout and stderr)",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the job ends, then say how it ended and exit with its code (as wait)", EnvVars: []string{envName("follow")}},
			&cli.IntFlag{Name: "tail", Aliases: []string{"n"}, Usage: "start with the last N lines (0: all)"},
		},
		Action: func(c *cli.Context) error {
			ids, err := jobIDs(c) // one: ArgsUsage "ID" refuses more
			if err != nil {
				return err
			}
			id := ids[0]
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			if j, err := db.GetJob(c.Context, id); err == nil {
				if err := env.mayTouch(j, "read"); err != nil {
					return fmt.Errorf("logs: %w", err)
				}
			}
			if c.Int("tail") < 0 {
				return usagef("logs: --tail must not be negative")
			}
			j, err := jobs.Logs(c.Context, env.Stdout, db, id, jobs.LogsOptions{Follow: c.Bool("follow"), Tail: c.Int("tail"), Every: 100 * time.Millisecond})
			if err != nil || !c.Bool("follow") {
				return err
			}
			// Followed to its end: say how it ended, and exit as wait does.
			text.Ends(env.Stderr, []ledger.Job{j})
			return waitExit([]ledger.Job{j})
		},
	}
}

func cancelCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel jobs: a queued one at once, a running one by stopping its process group",
		ArgsUsage: "ID... | --all | --name GLOB | --state STATE (an array's id stands for all its jobs)",
		Flags: []cli.Flag{
			boolFlag("all", "every queued and running job of yours (root: everyone's)"),
			stringFlag("name", "your queued and running jobs whose name matches this shell pattern", ""),
			stringFlag("state", "your jobs in this state: queued or running", ""),
		},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				list, err := cancelTargets(c, env, db)
				if err != nil {
					return err
				}
				for _, j := range list {
					if err := env.mayTouch(j, "cancel"); err != nil {
						return fmt.Errorf("cancel: %w", err)
					}
				}
				running, err := daemon.Running(db.Path())
				if err != nil {
					return fmt.Errorf("cancel: %w", err)
				}
				list, failed := answerEach(env, "cancel", list)
				for _, j := range list {
					err := jobs.Cancel(c.Context, db, j, running, func() (*jobs.User, error) { return engineUser(env) }, env.say)
					if err != nil {
						fmt.Fprintf(env.Stderr, "runner: %v\n", err)
						failed = ErrFailed
					}
				}
				jobs.Poke(jobs.SockPath(db.Path()))
				return failed
			})
		},
	}
}

// cancelTargets are the jobs cancel acts on: the ids given (arrays
// expanded), or the caller's active jobs a selector picks.
func cancelTargets(c *cli.Context, env Env, db *ledger.DB) ([]ledger.Job, error) {
	selectors := 0
	for _, f := range []string{"all", "name", "state"} {
		if c.IsSet(f) {
			selectors++
		}
	}
	switch {
	case selectors > 0 && c.Args().Len() > 0:
		return nil, usagef("cancel: give job ids or --all/--name/--state, not both")
	case selectors == 0:
		ids, err := jobIDs(c)
		if err != nil {
			return nil, err
		}
		list, err := jobs.ExpandArrays(c.Context, db, ids)
		if err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
		return list, nil
	}
	uid, _, _ := env.owner()
	mine, err := jobs.CancelTargets(c.Context, db, ledger.JobState(c.String("state")), c.String("name"), uid)
	if err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	if len(mine) == 0 {
		fmt.Fprintln(env.Stdout, "no job to cancel")
	}
	return mine, nil
}

func gpusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "gpus",
		Usage: "the GPUs with memory, utilisation, processes and the job holding each",
		Flags: []cli.Flag{
			boolFlag("json", "print a JSON array"),
			stringFlag("gpus", "ask this inventory now (auto, nvml, none, fake:N[:MEM]) instead of the daemon's last sample", ""),
		},
		Action: func(c *cli.Context) error {
			snap, at, err := gpuView(c, env)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, snap.GPUs)
			}
			text.GPUs(env.Stdout, snap, at, env.Now())
			return nil
		},
	}
}

// gpuView is status.GPUView on the ledger --db names (when it opens) and
// the inventory --gpus names.
func gpuView(c *cli.Context, env Env) (jobs.Snapshot, *time.Time, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return jobs.Snapshot{}, nil, err
	}
	db, dbErr := openDB(c.Context, c, env, logger, true)
	if dbErr == nil {
		defer db.Close()
	} else {
		db = nil // no ledger: a fresh look only
	}
	snap, at, err := status.GPUView(c.Context, db, c.String("gpus"), logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return snap, nil, &UsageError{Err: err}
	}
	return snap, at, err
}

// superviseCommand is what a job's detached supervisor runs (jobs.Launch):
// the spec arrives on stdin so nothing of it shows in argv.
func superviseCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:   jobs.SuperviseCommand,
		Hidden: true,
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "job", Usage: "job id"},
			&cli.BoolFlag{Name: jobs.SpareFlag, Usage: "wait for a job's spec (a spare supervisor)"},
			&cli.StringFlag{Name: jobs.SpecFileFlag, Usage: "read the job's spec from this file and remove it (a systemd unit's supervisor)"},
		},
		Action: func(c *cli.Context) error {
			return jobs.RunSupervisor(c.Context, env.Stdin, c.Bool(jobs.SpareFlag), c.Int64("job"), c.String(jobs.SpecFileFlag))
		},
	}
}

// jobsDaemonFlags are the daemon's job scheduler flags.
func jobsDaemonFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag("gpus", "GPU inventory: auto (NVML when a driver is there), nvml, none, fake:N[:MEM]", "auto"),
		withDefault(stringFlag("jobs-wandb-dir", "WANDB_DIR of every job", ""), "the first --watch dir"),
		durationFlag("sample-interval", "sample the GPUs (job telemetry, runner gpus) and re-plan this often", jobs.DefaultSampleInterval),
		withDefault(intFlag("cpu-slots", "CPU slots for jobs (a CPU job takes 1 unless submit --cpus says otherwise)", 0), "the number of CPUs"),
		withDefault(stringFlag("socket-group", "group whose members may use the daemon's socket", ""), "runner, when that group exists"),
		stringFlag("job-units", "start each job as a transient systemd service: auto (when the daemon is a root systemd service), systemd, off", jobs.UnitsAuto),
		stringFlag("executor", "where runner submit sends a job without --executor: local (this host's GPUs) or slurm (sbatch)", string(ledger.ExecutorLocal)),
		stringFlag("on-job-end", "after each job ends, run this shell command as the job's owner with RUNNER_JOB_ID, RUNNER_JOB_STATE, RUNNER_JOB_EXIT_CODE... set", ""),
	}
}

// newScheduler checks the job flags of `runner daemon` and wires the
// scheduler (daemon.NewScheduler).
func newScheduler(c *cli.Context, env Env, db *ledger.DB, eng *runsync.Engine, roots []string, logger *slog.Logger) (s *jobs.Scheduler, closeInv func(), err error) {
	interval := durationOf(c, "sample-interval")
	if interval <= 0 {
		return nil, nil, usagef("daemon: invalid --sample-interval: want a positive duration")
	}
	if c.Int("cpu-slots") < 0 {
		return nil, nil, usagef("daemon: --cpu-slots must not be negative")
	}
	wandbDir := c.String("jobs-wandb-dir")
	if wandbDir == "" {
		wandbDir = roots[0]
	}
	s, closeInv, err = daemon.NewScheduler(c.Context, db, eng, daemon.SchedulerOptions{
		GPUs: c.String("gpus"), JobUnits: c.String("job-units"), WandbDir: wandbDir, CPUSlots: c.Int("cpu-slots"),
		SampleInterval: interval, Self: env.Self, Now: env.Now, Getenv: env.Getenv,
		OnJobEnd: c.String("on-job-end"), Environ: env.Environ(),
	}, logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) || errors.Is(err, jobs.ErrBadUnitsMode) {
		return nil, nil, &UsageError{Err: err}
	}
	return s, closeInv, err
}
