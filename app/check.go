package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/text"
)

func checkCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "is this run worse than usual? exit 1 when a regression is flagged, 0 otherwise",
		ArgsUsage: "RUN",
		Flags: append([]cli.Flag{
			listFlag("metric", "summary metric to check (repeatable; default every "+reports.DefaultWatchMetric+" metric)"),
			boolFlag("json", "print one JSON object"),
		}, RegressionFlags()...),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			if err := needArgs(c, 1, "RUN (a run id or run dir)"); err != nil {
				return err
			}
			o, err := RegressOptionsFrom(c)
			if err != nil {
				return err
			}
			rep, err := reports.CheckRun(c.Context, db, c.Args().First(), c.StringSlice("metric"), o)
			if err != nil {
				return err
			}
			if err := show(c, env, rep, func() { text.Check(env.Stdout, rep, env.palette(env.Stdout)) }); err != nil {
				return err
			}
			if rep.Regressions > 0 {
				return ErrFailed
			}
			return nil
		}),
	}
}
