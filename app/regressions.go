package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/text"
)

func regressionsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "regressions",
		Usage: "regressions the daemon flagged when runs became ready",
		Flags: []cli.Flag{
			stringFlag("metric", "only this metric", ""),
			durationFlag("since", "only those flagged within this long (0: all)", 0),
			boolFlag("json", "print a JSON array"),
		},
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			f := ledger.RegressionFilter{Metric: c.String("metric")}
			if d := durationOf(c, "since"); d > 0 {
				f.Since = env.Now().Add(-d)
			}
			out, err := reports.Regressions(c.Context, db, f)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, out)
			}
			return text.Regressions(env.Stdout, out, env.Now())
		}),
	}
}

// ---- compare ----
