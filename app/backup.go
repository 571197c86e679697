package app

import (
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
)

func backupCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the ledger to FILE (safe while the daemon runs)",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "FILE (where to write the copy; it must not exist)"); err != nil {
				return err
			}
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				if err := db.Backup(c.Context, c.Args().First()); err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				fmt.Fprintf(env.Stdout, "ledger %s copied to %s\n", db.Path(), c.Args().First())
				return nil
			})
		},
	}
}
