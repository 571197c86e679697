package app

import (
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/text"
)

func skipCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "skip",
		Usage:     "exclude runs from upload",
		ArgsUsage: "RUN_ID|DIR...",
		Flags:     []cli.Flag{stringFlag("reason", "why (shown in runs and status)", "skipped by user")},
		Action: func(c *cli.Context) error {
			return changeRuns(c, env, "skip", func(db *ledger.DB, dirs []string) ([]string, error) {
				return db.Skip(c.Context, dirs, c.String("reason"))
			})
		},
	}
}

func unskipCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "unskip",
		Usage:     "put skipped runs back: they are judged and uploaded like new ones",
		ArgsUsage: "RUN_ID|DIR...",
		Action: func(c *cli.Context) error {
			return changeRuns(c, env, "unskip", func(db *ledger.DB, dirs []string) ([]string, error) {
				return db.Unskip(c.Context, dirs)
			})
		},
	}
}

// changeRuns resolves the command's run selectors, applies change to their
// dirs and answers for the others as the queue verbs do (runsync.AnswerRuns):
// exit 1 when one could not be moved.
func changeRuns(c *cli.Context, env Env, verb string, change func(db *ledger.DB, dirs []string) ([]string, error)) error {
	if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
		return err
	}
	return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
		dirs, err := resolveDirs(c, db, verb)
		if err != nil {
			return err
		}
		moved, err := change(db, dirs)
		if err != nil {
			return fmt.Errorf("%s: %w", verb, err)
		}
		ch := runsync.AnswerRuns(c.Context, db, verb, dirs, moved)
		text.RunChange(env.Stdout, env.Stderr, ch)
		if len(ch.Cannot) > 0 {
			return ErrFailed
		}
		return nil
	})
}

// resolveDirs turns the command's run selectors into run dirs.
func resolveDirs(c *cli.Context, db *ledger.DB, verb string) ([]string, error) {
	var dirs []string
	for _, sel := range c.Args().Slice() {
		runs, err := db.Resolve(c.Context, sel)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", verb, sel, err)
		}
		for _, r := range runs {
			dirs = append(dirs, r.Dir)
		}
	}
	return dirs, nil
}
