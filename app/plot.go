package app

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/plot"
	"github.com/runnerhq/runner/reports"
)

// plotFlags are the leaderboard's, with --metric saying what a plot does with it.
func plotFlags() []cli.Flag {
	fs := leaderboardFlags()
	fs[0] = stringFlag("metric", "the metric to draw against step for each RUN; with --leaderboard, the summary metric to rank by (required)", "")
	return fs
}

func plotCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "plot",
		Usage:     "draw a metric against step for runs (PNG or SVG), or the leaderboard as bars",
		ArgsUsage: "RUN...",
		Flags: append(plotFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "FILE.png or FILE.svg",
				DefaultText: "<metric with / as _>.png, <metric>_leaderboard.png for --leaderboard"},
			boolFlag("leaderboard", "draw the leaderboard of --metric as a bar chart"),
			&cli.BoolFlag{Name: "log-y", Aliases: []string{"log"}, Usage: "a logarithmic y axis (points at or below 0 are left out), for loss curves; without it, data spanning more than 3 decades gets one anyway"},
			&cli.Float64Flag{Name: "smooth", Usage: "smooth each line with an exponential moving average of this weight (0 to 0.99), as W&B's panels do", Value: 0},
			boolFlag("json", "print what was drawn as one JSON object"),
		),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			metric := c.String("metric")
			if metric == "" {
				return usagef("plot: --metric is required")
			}
			out, format, err := reports.PlotFile(metric, c.String("output"), c.Bool("leaderboard"))
			if err != nil {
				return usagef("plot: %v", err)
			}
			var rep *reports.PlotReport
			if c.Bool("leaderboard") {
				if c.Args().Len() > 0 {
					return usagef("plot: --leaderboard takes no RUN")
				}
				o, err := leaderboardOptions(c)
				if err != nil {
					return err
				}
				rep, err = reports.PlotLeaderboard(c.Context, db, o, out, format)
				if err != nil {
					return err
				}
			} else {
				if err := needArgs(c, 1, "RUN (a run id or run dir; or --leaderboard)"); err != nil {
					return err
				}
				smooth := c.Float64("smooth")
				if smooth < 0 || smooth >= 1 {
					return usagef("plot: --smooth %v: want a weight from 0 up to (not including) 1, like 0.6", smooth)
				}
				rep, err = reports.PlotRuns(c.Context, db, c.Args().Slice(), metric, out, format,
					plot.Options{LogY: c.Bool("log-y"), Smooth: smooth})
				if err != nil {
					return err
				}
			}
			for _, sel := range rep.LeftOut {
				fmt.Fprintf(env.Stderr, "runner: plot: run %s has no point of %s; left out\n", sel, metric)
			}
			if c.Bool("json") {
				return api.Write(env.Stdout, rep)
			}
			n := len(rep.Series) + len(rep.Bars)
			fmt.Fprintf(env.Stdout, "wrote %s (%s, %d %s)\n", rep.File, metric, n, map[bool]string{true: "bars", false: "runs"}[rep.Bars != nil])
			return nil
		}),
	}
}
