package app

import (
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/gc"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/text"
)

func gcCommand(env Env) *cli.Command {
	return &cli.Command{
		Name: "gc",
		Usage: "delete local dirs of runs synced longer ago than --older-than, prune old job logs, " +
			"compact the ledger (never touches a run that is not synced)",
		Flags: []cli.Flag{
			durationFlag("older-than", "keep what was synced (or, for job logs, ended) more recently than this", gc.DefaultAge),
			boolFlag("dry-run", "report what would be deleted; delete nothing"),
			boolFlag("json", "print the report as one JSON object"),
		},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				rep, err := gc.Collect(c.Context, db, logger, gc.Options{
					OlderThan: durationOf(c, "older-than"), DryRun: c.Bool("dry-run"), Now: env.Now(),
				})
				if err != nil {
					return err
				}
				if err := show(c, env, rep, func() { text.GC(env.Stdout, rep, env.Now()) }); err != nil {
					return err
				}
				if len(rep.Errors) > 0 {
					return fmt.Errorf("gc: %d error(s): %s", len(rep.Errors), rep.Errors[0])
				}
				return nil
			})
		},
	}
}
