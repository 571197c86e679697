package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/text"
)

func leaderboardFlags() []cli.Flag {
	return append([]cli.Flag{
		stringFlag("metric", "summary metric to rank by (required)", ""),
		stringFlag("project", "only runs of this W&B project", ""),
		stringFlag("group", "only runs of this W&B group", ""),
		intFlag("top", "show the best N runs (0: all)", reports.DefaultTop),
	}, goalFlags()...)
}

func leaderboardOptions(c *cli.Context) (reports.LeaderboardOptions, error) {
	g, err := goalOptions(c)
	if err != nil {
		return reports.LeaderboardOptions{}, err
	}
	o := reports.LeaderboardOptions{Metric: c.String("metric"), Project: c.String("project"), Group: c.String("group"),
		Top: c.Int("top"), Goals: g}
	if o.Metric == "" {
		return o, usagef("%s: --metric is required", c.Command.Name)
	}
	if o.Top < 0 {
		return o, usagef("invalid --top %d: want 0 or more", o.Top)
	}
	return o, nil
}

func leaderboardCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "leaderboard",
		Usage: "best runs by a summary metric, with job, GPU hours, energy, state and URL",
		Flags: append(leaderboardFlags(), boolFlag("json", "print one JSON object")),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			o, err := leaderboardOptions(c)
			if err != nil {
				return err
			}
			lb, err := reports.GetLeaderboard(c.Context, db, o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, lb)
			}
			text.Leaderboard(env.Stdout, lb)
			return nil
		}),
	}
}
