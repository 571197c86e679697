package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// submitName is the one command whose arguments are not reordered: its
// command line starts at the first argument that is not a flag (commandAsTyped).
const submitName = "submit"

func submitCommand(env Env) *cli.Command {
	gpus := intFlag("gpus", "GPUs the job needs (0: a CPU job that sees no GPU)", 0)
	// RUNNER_GPUS is the daemon's inventory spec (fake:4, auto); a GPU count
	// read from it would break every submit on a box configured that way.
	gpus.EnvVars = nil
	return &cli.Command{
		Name:      submitName,
		Usage:     "queue a job; prints its id (runner's flags go before the command; the command is kept as typed)",
		ArgsUsage: "[flags] [--] CMD ARGS...",
		Flags: []cli.Flag{
			gpus,
			stringFlag("gpu-mem", "free memory each GPU must have, like 20GiB", ""),
			stringFlag("mem", "the most host memory the job may use, like 64GiB (its systemd unit's MemoryMax=; needs jobs run as units)", ""),
			stringFlag("name", "a name to show in runner jobs", ""),
			intFlag("priority", "higher runs first (default 0)", 0),
			listFlag("after", "start only after job ID succeeded (repeatable); skipped if it does not"),
			boolFlag("same-run", "log into the same W&B run as the one --after job (WANDB_RUN_ID)"),
			intFlag("retries", "re-queue a failed job this many times (same id and run id)", 0),
			durationFlag("timeout", "stop the job (SIGTERM, then SIGKILL) after this long; 0 = never", 0),
			listFlag("env", "K=V set in the job's environment, on top of yours (repeatable; not for secrets)"),
			listFlag("env-keep", "pass this credential-like variable (WANDB_API_KEY, *_TOKEN...) from your environment to the job (repeatable)"),
			boolFlag("env-clear", "start the job from an empty environment plus --env and --env-keep (default: the environment of this call)"),
			stringFlag("cwd", "working directory of the job (default: the current one)", ""),
			boolFlag("json", "print {id, run_id, state}"),
			boolFlag("hold", "queue the job even if this machine's GPUs can never run it (more GPUs or memory than it has)"),
		},
		Action: func(c *cli.Context) error {
			spec, err := submitSpec(c, env)
			if err != nil {
				return err
			}
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				if !c.Bool("hold") {
					if err := refuseNeverFits(c.Context, db, spec); err != nil {
						return err
					}
				}
				if spec.MemMax > 0 {
					if err := needUnits(c.Context, db); err != nil {
						return err
					}
				}
				environ, keep := env.Environ(), c.StringSlice("env-keep")
				if c.Bool("env-clear") {
					environ = jobs.Only(environ, keep)
				}
				captured := jobs.Capture(environ, keep)
				if len(captured.Dropped) > 0 {
					logger.Debug("submit: credential-like variables not passed to the job (--env-keep NAME passes one)", "names", captured.Dropped)
				}
				envFile, err := jobs.WriteEnvFile(jobs.EnvDir(filepath.Dir(db.Path())), captured.Env)
				if err != nil {
					return fmt.Errorf("submit: %w", err)
				}
				spec.EnvFile, spec.EnvNames = envFile, captured.Names()
				var gid int
				spec.OwnerUID, gid, spec.Owner = env.owner()
				if env.Caller != nil && os.Geteuid() == 0 {
					// Written by the root daemon for a socket caller: the
					// file belongs to the job's owner, like its log.
					if err := os.Chown(envFile, spec.OwnerUID, gid); err != nil {
						_ = jobs.RemoveEnvFile(envFile)
						return fmt.Errorf("submit: %w", err)
					}
				}
				j, err := db.SubmitJob(c.Context, spec)
				if err != nil {
					_ = jobs.RemoveEnvFile(spec.EnvFile) // never queued: nothing will read it
				}
				switch {
				case errors.Is(err, ledger.ErrBadJob) || errors.Is(err, ledger.ErrSecretInEnv):
					return &UsageError{Err: fmt.Errorf("submit: %w", err)}
				case err != nil:
					return fmt.Errorf("submit: %w", err)
				}
				jobs.Poke(jobs.SockPath(db.Path()))
				if c.Bool("json") {
					return writeJSON(env.Stdout, struct {
						ID    int64  `json:"id"`
						RunID string `json:"run_id"`
						State string `json:"state"`
					}{j.ID, j.RunID, string(j.State)})
				}
				fmt.Fprintln(env.Stdout, j.ID)
				return nil
			})
		},
	}
}

// refuseNeverFits is a usage error for a GPU job the daemon's last view of
// the GPUs (nvml or fake) says can never run here; with no view, or no
// GPUs (no driver, --gpus none), the job is queued and waits with a reason.
func refuseNeverFits(ctx context.Context, db *ledger.DB, spec ledger.JobSpec) error {
	if spec.GPUs == 0 {
		return nil
	}
	raw, _, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok {
		return err
	}
	var snap jobs.Snapshot
	if err := json.Unmarshal([]byte(raw), &snap); err != nil || len(snap.GPUs) == 0 {
		return nil // an unreadable view decides nothing; the scheduler will
	}
	why := jobs.NeverFits(snap.Devices(), jobs.Want{GPUs: spec.GPUs, GPUMem: spec.GPUMem})
	if why == "" {
		return nil
	}
	var gpus []string
	for _, g := range snap.GPUs {
		gpus = append(gpus, fmt.Sprintf("%d: %s %s", g.Index, g.Name, jobs.FormatSize(g.MemoryTotal)))
	}
	return usagef("submit: this job can never run: it %s (%s GPUs: %s); --hold queues it anyway",
		why, snap.Inventory, strings.Join(gpus, ", "))
}

// needUnits refuses submit --mem unless the daemon (running, or the last one
// when it is down) starts jobs as systemd units: elsewhere no per-job memory
// limit exists.
func needUnits(ctx context.Context, db *ledger.DB) error {
	d, err := db.DaemonState(ctx)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	if d == nil || !d.JobUnits {
		return &UsageError{Err: fmt.Errorf("submit: %w; this daemon starts jobs as its own processes", jobs.ErrMemNeedsUnits)}
	}
	return nil
}

// submitSpec reads and checks submit's flags; every problem is a usage error.
func submitSpec(c *cli.Context, env Env) (ledger.JobSpec, error) {
	s := ledger.JobSpec{
		Name: c.String("name"), Argv: c.Args().Slice(), GPUs: c.Int("gpus"), Priority: c.Int("priority"),
		Retries: c.Int("retries"), Timeout: durationOf(c, "timeout"), Env: c.StringSlice("env"),
		SameRun: c.Bool("same-run"), Cwd: c.String("cwd"),
	}
	if len(s.Argv) == 0 {
		return s, usagef("submit: missing the job command: runner submit [flags] -- CMD ARGS...")
	}
	if s.GPUs < 0 || s.Retries < 0 {
		return s, usagef("submit: --gpus and --retries must not be negative")
	}
	if m := c.String("gpu-mem"); m != "" {
		v, err := jobs.ParseSize(m)
		if err != nil {
			return s, usagef("submit: --gpu-mem: %v", err)
		}
		s.GPUMem = v
	}
	if m := c.String("mem"); m != "" {
		v, err := jobs.ParseSize(m)
		if err != nil || v == 0 {
			return s, usagef("submit: --mem %q: want a size like 64GiB", m)
		}
		s.MemMax = v
	}
	for _, a := range c.StringSlice("after") {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return s, usagef("submit: --after %q: want a job id", a)
		}
		s.After = append(s.After, id)
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
	return s, nil
}
