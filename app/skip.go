package app

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

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
				moved, err := db.Skip(c.Context, dirs, c.String("reason"))
				if err != nil {
					return fmt.Errorf("skip: %w", err)
				}
				fmt.Fprintf(env.Stdout, "skipped %d run dir(s)\n", len(moved))
				// The rest: a state the table does not skip from (docs/design.md "Run states").
				for _, d := range dirs {
					if slices.Contains(moved, d) {
						continue
					}
					state := "unknown"
					if r, err := db.GetRun(c.Context, d); err == nil {
						state = string(r.State)
					}
					fmt.Fprintf(env.Stdout, "not skipped: %s is %s\n", filepath.Base(d), state)
				}
				return nil
			})
		},
	}
}
