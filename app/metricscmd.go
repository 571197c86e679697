package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/text"
)

func metricsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "metrics",
		Usage:     "history summaries (count, last, min, max, mean, std, best step, EMA, slope) and final summary of a run",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
				return err
			}
			rep, err := reports.Metrics(c.Context, db, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, rep)
			}
			text.Metrics(env.Stdout, rep)
			return nil
		}),
	}
}
