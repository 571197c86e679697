package app

import (
	"bytes"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/report"
	"github.com/runnerhq/runner/reports"
)

func reportFlags() []cli.Flag {
	return append([]cli.Flag{
		stringFlag("project", "only runs of this W&B project", ""),
		stringFlag("group", "only runs of this W&B group", ""),
		&cli.Int64Flag{Name: "sweep", Usage: "the runs of this runner sweep or array (the id submit --sweep/--array printed)"},
		stringFlag("rank", "summary metric of the leaderboard and the regression checks (default: the first eval/* one)", ""),
		listFlag("metric", "history metric to chart (repeatable; default the first 6 the runs logged)"),
		intFlag("top", "without RUNs, the best N runs by --rank", report.DefaultTop),
	}, RegressionFlags()...)
}

func reportOptions(c *cli.Context, env Env) (report.Options, error) {
	ro, err := RegressOptionsFrom(c)
	if err != nil {
		return report.Options{}, err
	}
	o := report.Options{Runs: c.Args().Slice(), Project: c.String("project"), Group: c.String("group"), Sweep: c.Int64("sweep"), Rank: c.String("rank"),
		Metrics: c.StringSlice("metric"), Top: c.Int("top"), Regress: ro, Now: env.Now}
	if o.Top < 1 {
		return o, usagef("invalid --top %d: want 1 or more", o.Top)
	}
	return o, nil
}

func reportCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "one self-contained HTML file: leaderboard, regressions, training curves, run vs run (docs/report.md)",
		ArgsUsage: "[RUN...]",
		Flags:     append(reportFlags(), &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the HTML file to write", Value: "report.html"}),
		Action: kernelAction(env, func(c *cli.Context, db *ledger.DB) error {
			o, err := reportOptions(c, env)
			if err != nil {
				return err
			}
			p, err := report.Build(c.Context, db, o)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := report.Write(&buf, p); err != nil {
				return err
			}
			if err := reports.WriteFileAtomic(c.String("output"), buf.Bytes()); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintf(env.Stdout, "wrote %s (%d runs, %d charts, %d bytes)\n", c.String("output"), len(p.Leaderboard.Rows), len(p.Charts), buf.Len())
			return nil
		}),
	}
}
