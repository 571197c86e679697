package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/text"
)

func compareCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "side by side summaries, history summaries and config differences of runs (against the first)",
		ArgsUsage: "RUN RUN...",
		Flags: []cli.Flag{
			listFlag("metric", "only this metric (repeatable; default all numeric ones)"),
			boolFlag("json", "print one JSON object"),
		},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if c.Args().Len() < 2 {
				return usagef("compare: give two or more RUNs")
			}
			rep, err := reports.Compare(c.Context, db, c.Args().Slice(), c.StringSlice("metric"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, rep)
			}
			text.Compare(env.Stdout, rep)
			return nil
		}),
	}
}
