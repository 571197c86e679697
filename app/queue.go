package app

// The everyday queue verbs beside submit, jobs, logs and cancel: wait, hold,
// release and requeue (README "GPU jobs"). Each takes several ids, and an
// array's id stands for all of its jobs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/text"
)

// waitPoll is how often wait reads the ledger.
const waitPoll = 100 * time.Millisecond

// jobIDs reads every positional argument as a job id (at least one).
func jobIDs(c *cli.Context) ([]int64, error) {
	if err := needArgs(c, 1, "job ID"); err != nil {
		return nil, err
	}
	var ids []int64
	for _, a := range c.Args().Slice() {
		id, err := jobs.ParseJobID(a)
		if err != nil {
			return nil, usagef("%s: %v", c.Command.Name, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// waitExit is wait's exit for ended jobs (jobs.WaitCode): nil when all
// succeeded.
func waitExit(list []ledger.Job) error {
	if code := jobs.WaitCode(list); code != 0 {
		return &ExitStatus{Code: code}
	}
	return nil
}

// waitOutcome turns jobs.WaitEnded's result into wait's exit, saying on w
// how the jobs ended.
func waitOutcome(parent context.Context, w io.Writer, ended []ledger.Job, err error, timeout time.Duration) error {
	switch {
	case err == nil:
		text.Ends(w, ended)
		return waitExit(ended)
	case errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil:
		return &ExitStatus{Code: jobs.ExitTimedOut, Line: fmt.Sprintf("wait: the jobs did not end within %s", units.FormatDuration(timeout))}
	default:
		return fmt.Errorf("wait: %w", err)
	}
}

func waitCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for jobs to end; exit 0 if all succeeded, else the first failed job's exit code (1: cancelled, skipped or lost; 124: --timeout)",
		ArgsUsage: "ID... (an array's id stands for all its jobs)",
		Flags:     []cli.Flag{durationFlag("timeout", "give up after this long (exit 124); 0 = never", 0)},
		Action: func(c *cli.Context) error {
			ids, err := jobIDs(c)
			if err != nil {
				return err
			}
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := jobs.ExpandArrays(c.Context, db, ids)
			if err != nil {
				return fmt.Errorf("wait: %w", err)
			}
			timeout := durationOf(c, "timeout")
			ended, err := jobs.WaitEnded(c.Context, db, list, timeout, waitPoll)
			return waitOutcome(c.Context, env.Stderr, ended, err, timeout)
		},
	}
}

// changeJobs applies fn to each of the caller's jobs among ids (arrays
// expanded) after checking they may change them; what names a refused one.
func changeJobs(c *cli.Context, env Env, what string, fn func(db *ledger.DB, list []ledger.Job) error) error {
	ids, err := jobIDs(c)
	if err != nil {
		return err
	}
	return withLedger(c, env, false, func(db *ledger.DB, _ *slog.Logger) error {
		list, err := jobs.ExpandArrays(c.Context, db, ids)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Command.Name, err)
		}
		for _, j := range list {
			if err := env.mayTouch(j, what); err != nil {
				return fmt.Errorf("%s: %w", c.Command.Name, err)
			}
		}
		if err := fn(db, list); err != nil {
			return fmt.Errorf("%s: %w", c.Command.Name, err)
		}
		jobs.Poke(jobs.SockPath(db.Path()))
		return nil
	})
}

func holdCommand(env Env, hold bool) *cli.Command {
	name, usage := "hold", "keep queued jobs from starting until released"
	if !hold {
		name, usage = "release", "let held jobs start"
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ID... (an array's id stands for all its jobs)",
		Action: func(c *cli.Context) error {
			return changeJobs(c, env, name, func(db *ledger.DB, list []ledger.Job) error {
				list, failed := answerEach(env, name, list)
				// An engine's job is held where it waits, as the caller.
				if err := jobs.Hold(c.Context, db, list, hold, func() (*jobs.User, error) { return engineUser(env) }, env.say); err != nil {
					return err
				}
				return failed
			})
		},
	}
}

func requeueCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "requeue",
		Usage:     "run ended jobs again (same id and W&B run id, as a retry); jobs skipped because of them are queued again",
		ArgsUsage: "ID... | --state failed,cancelled,skipped,lost",
		Flags: []cli.Flag{
			boolFlag("new-run", "give the job a new W&B run id instead of logging into the same run"),
			stringFlag("state", "every job of yours in these states, a comma list of failed, cancelled, skipped, lost (root: everyone's)", ""),
		},
		Action: func(c *cli.Context) error {
			if c.IsSet("state") {
				return requeueByState(c, env)
			}
			return changeJobs(c, env, "requeue", func(db *ledger.DB, list []ledger.Job) error {
				return requeueJobs(c, env, db, list)
			})
		},
	}
}

// requeueByState is requeue --state: the caller's jobs in those states.
func requeueByState(c *cli.Context, env Env) error {
	if c.Args().Len() > 0 {
		return usagef("requeue: give job ids or --state, not both")
	}
	states, err := ledger.ParseJobStates(c.String("state"))
	if err != nil {
		return usagef("requeue: --state: %v", err)
	}
	return withLedger(c, env, false, func(db *ledger.DB, _ *slog.Logger) error {
		mine, err := jobs.RequeueTargets(c.Context, db, states, func(j ledger.Job) bool { return env.mayTouch(j, "requeue") == nil })
		if err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
		if len(mine) == 0 {
			fmt.Fprintln(env.Stdout, "no job to requeue")
			return nil
		}
		if err := requeueJobs(c, env, db, mine); err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
		jobs.Poke(jobs.SockPath(db.Path()))
		return nil
	})
}

// requeueJobs queues list again (jobs.Requeue); what it refuses is a
// usage error.
func requeueJobs(c *cli.Context, env Env, db *ledger.DB, list []ledger.Job) error {
	list, failed := answerEach(env, "requeue", list)
	err := jobs.Requeue(c.Context, db, list, c.Bool("new-run"), env.say)
	if err != nil {
		return err
	}
	return failed
}

func cleanCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove ended jobs (succeeded, failed, cancelled, skipped, lost) from the ledger and delete their logs",
		Flags: []cli.Flag{
			stringFlag("state", "only jobs in these ended states, a comma list", ""),
			stringFlag("before", "only jobs that ended before this: a duration back (7d, 12h) or a date (2026-12-01)", ""),
			boolFlag("dry-run", "say what would be removed; change nothing"),
			stringFlag("user", "only the jobs of this user (the OWNER column); only root may name another user", ""),
		},
		Action: func(c *cli.Context) error {
			var o jobs.CleanOptions
			if s := c.String("state"); s != "" {
				var err error
				if o.States, err = ledger.ParseJobStates(s); err != nil {
					return usagef("clean: --state: %v", err)
				}
			}
			if b := c.String("before"); b != "" {
				var err error
				if o.Before, err = jobs.ParseBefore(b, env.Now()); err != nil {
					return usagef("clean: --before: %v", err)
				}
			}
			o.DryRun, o.Owner, o.Socket = c.Bool("dry-run"), c.String("user"), env.Caller != nil
			o.CallerUID, _, o.CallerName = env.owner()
			return withLedger(c, env, false, func(db *ledger.DB, _ *slog.Logger) error {
				r, err := jobs.Clean(c.Context, db, o)
				if errors.Is(err, jobs.ErrNotEndedState) {
					return usagef("clean: --state: %v", err)
				}
				if err != nil {
					return fmt.Errorf("clean: %w", err)
				}
				for _, e := range r.Errors {
					fmt.Fprintf(env.Stderr, "runner: clean: %s\n", e)
				}
				text.Clean(env.Stdout, r, o.DryRun)
				if r.Jobs > 0 && len(r.Errors) > 0 {
					return ErrFailed
				}
				return nil
			})
		},
	}
}

// pauseCommand is runner pause (pause true) and runner resume of the whole
// job queue: queued jobs stay queued, running jobs go on.
func pauseCommand(env Env, pause bool) *cli.Command {
	name, usage, done, already := "pause", "start no queued job until runner resume (running jobs go on)",
		"job queue paused: queued jobs stay queued, running jobs go on", "job queue already paused"
	if !pause {
		name, usage, done, already = "resume", "let queued jobs start again after runner pause", "job queue resumed", "job queue was not paused"
	}
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, _ *slog.Logger) error {
				if env.Caller != nil && env.Caller.UID != 0 {
					return fmt.Errorf("%s: %w", name, jobs.ErrQueueAdmin)
				}
				changed, err := db.SetQueuePaused(c.Context, pause)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if !changed {
					fmt.Fprintln(env.Stdout, already)
					return nil
				}
				fmt.Fprintln(env.Stdout, done)
				jobs.Poke(jobs.SockPath(db.Path()))
				return nil
			})
		},
	}
}

// configCommand is runner config: the queue's run-time limits (jobs.Config).
func configCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "config",
		Usage:     "show or change the job queue's limits at run time (they win over the daemon's --cpu-slots and --gpus)",
		ArgsUsage: "[set cpu-slots N | set gpus 0,1|none | unset cpu-slots|gpus]",
		Action: func(c *cli.Context) error {
			return withLedger(c, env, !c.Args().Present(), func(db *ledger.DB, _ *slog.Logger) error {
				changed, err := jobs.Config(c.Context, db, c.Args().Slice(), env.say)
				if changed {
					jobs.Poke(jobs.SockPath(db.Path()))
				}
				return err
			})
		},
	}
}
