package app

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/text"
)

func runsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list the runs in the ledger",
		Flags: []cli.Flag{
			stringFlag("state", "only runs in this state (active, pending, uploading, synced, failed, skipped, missing)", ""),
			stringFlag("project", "only runs of this W&B project", ""),
			boolFlag("json", "print a JSON array"),
		},
		Action: func(c *cli.Context) error {
			st := ledger.State(c.String("state"))
			if st != "" && !slices.Contains(ledger.AllStates, st) {
				return usagef("runs: invalid --state %q: want one of %v", st, ledger.AllStates)
			}
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				f := ledger.Filter{State: st, Project: c.String("project"), Lean: true}
				if c.Bool("json") {
					if err := api.StreamRuns(c.Context, db, f, env.Stdout); err != nil {
						return fmt.Errorf("runs: %w", err)
					}
					return nil
				}
				if err := db.RunPasses(c.Context, f, func(pass func(func(ledger.Run) error) error) error {
					return text.Runs(env.Stdout, pass, env.palette(env.Stdout), env.width(env.Stdout))
				}); err != nil {
					return fmt.Errorf("runs: %w", err)
				}
				return nil
			})
		},
	}
}

// RunJSON and JobJSON are the elements of `runs --json` and `jobs --json`.
type (
	RunJSON = api.Run
	JobJSON = api.Job
)

// show prints v as JSON with --json, else as print writes it: for commands
// whose exit code is decided after the output (status, doctor, check, gc).
func show(c *cli.Context, env Env, v any, print func()) error {
	if c.Bool("json") {
		return api.Write(env.Stdout, v)
	}
	print()
	return nil
}
