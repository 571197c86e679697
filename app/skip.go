package app

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
)

func skipCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "skip",
		Usage:     "exclude runs from upload",
		ArgsUsage: "RUN_ID|DIR...",
		Flags:     []cli.Flag{stringFlag("reason", "why (shown in runs and status)", "skipped by user")},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
				return err
			}
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				var dirs []string
				for _, sel := range c.Args().Slice() {
					runs, err := db.Resolve(c.Context, sel)
					if errors.Is(err, ledger.ErrNotFound) {
						return fmt.Errorf("skip %s: no such run in the ledger", sel)
					}
					if err != nil {
						return fmt.Errorf("skip %s: %w", sel, err)
					}
					for _, r := range runs {
						dirs = append(dirs, r.Dir)
					}
				}
				n, err := db.Skip(c.Context, dirs, c.String("reason"))
				if err != nil {
					return fmt.Errorf("skip: %w", err)
				}
				fmt.Fprintf(env.Stdout, "skipped %d run dir(s)\n", n)
				if n < len(dirs) {
					fmt.Fprintf(env.Stdout, "%d already synced or uploading: left as they are\n", len(dirs)-n)
				}
				return nil
			})
		},
	}
}
