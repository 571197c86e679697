package app

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/doctor"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/text"
)

func doctorCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what runner needs: the wandb CLI, the API key, the trees, inotify, GPUs, the ledger, the daemon",
		Flags: append([]cli.Flag{
			withDefault(listFlag("watch", "trees to check"), "the daemon's"),
			stringFlag("gpus", "GPU inventory to check: auto, nvml, none, fake:N", "auto"),
			boolFlag("json", "print the checks as a JSON array"),
		}, uploadFlags()...),
		Action: func(c *cli.Context) error {
			logger, err := newLogger(c, env.Stderr)
			if err != nil {
				return err
			}
			up, err := newUploader(c, env, "", logger)
			if err != nil {
				return err
			}
			// A new box has no ledger yet: check the rest anyway.
			db, err := openDB(c.Context, c, env, logger, true)
			if err != nil && !errors.Is(err, ledger.ErrNoLedger) {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			roots := c.StringSlice("watch")
			if db != nil && len(roots) == 0 {
				if d, err := db.DaemonState(c.Context); err == nil && d != nil {
					roots = d.Watch
				}
			}
			checks := doctor.Run(c.Context, doctor.Options{Uploader: up, Roots: roots, DB: db,
				GPUs: c.String("gpus"), DaemonGPUs: !c.IsSet("gpus"), Heartbeat: daemon.HeartbeatInterval, Now: env.Now, Logger: logger})
			if db == nil {
				checks = append(checks, doctor.Check{Name: "ledger", Level: doctor.Warn, Detail: "no ledger yet",
					Fix: "runner daemon --watch DIR (or runner backfill DIR) creates it"})
			}
			if err := show(c, env, checks, func() { text.Checks(env.Stdout, checks) }); err != nil {
				return err
			}
			if doctor.Failed(checks) {
				return ErrFailed
			}
			return nil
		},
	}
}
