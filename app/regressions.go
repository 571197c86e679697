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
			return reports.RegressionPasses(c.Context, db, f, func(pass func(func(reports.RegressionJSON) error) error) error {
				if c.Bool("json") {
					return api.WriteArray(env.Stdout, pass)
				}
				return text.Regressions(env.Stdout, pass, env.Now())
			})
		}),
	}
}

// ---- compare ----
