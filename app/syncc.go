package app

import (
	"errors"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/text"
)

func syncCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		boolFlag("retry", "also take failed runs and reset their attempt count"),
		boolFlag("force", "upload the named runs now even if not finished (refused while a process holds the log open; a run without an exit record goes up from a repaired copy)"),
	}
	return &cli.Command{
		Name:      "sync",
		Usage:     "upload ready runs now, in the foreground (no RUN: every ready run)",
		ArgsUsage: "[RUN_ID|DIR ...]",
		Flags:     append(flags, uploadFlags()...),
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				eng, err := newEngine(c, env, db, logger)
				if err != nil {
					return err
				}
				var tty io.Writer
				if env.IsTerminal != nil && env.IsTerminal(env.Stderr) {
					tty = env.Stderr
				}
				if c.Bool("force") && c.Args().Len() == 0 {
					return usagef("sync: --force needs the RUN_IDs or DIRs to upload")
				}
				err = runsync.Now(c.Context, db, eng, runsync.NowOptions{
					Selectors: c.Args().Slice(), Retry: c.Bool("retry"), Force: c.Bool("force"),
					Concurrency: c.Int("concurrency"), Out: env.Stdout, Progress: text.NewUploads(env.Stdout, tty)})
				if errors.Is(err, runsync.ErrIncomplete) {
					return ErrFailed // each run that did not go up was named
				}
				return err
			})
		},
	}
}
