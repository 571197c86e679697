package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
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
			if c.Args().Len() > 1 {
				return usagef("check: takes one RUN, got %d", c.Args().Len())
			}
			o, err := RegressOptionsFrom(c)
			if err != nil {
				return err
			}
			rep, err := reports.CheckRun(c.Context, db, c.Args().First(), c.StringSlice("metric"), o)
			if err != nil {
				return err
			}
			if err := show(c, env, rep, func() { printCheck(env.Stdout, rep, env.palette(env.Stdout)) }); err != nil {
				return err
			}
			if rep.Regressions > 0 {
				return ErrFailed
			}
			return nil
		}),
	}
}

func printCheck(w io.Writer, rep *reports.CheckReport, p palette) {
	fmt.Fprintf(w, "run %s (%s) in project %s\n", rep.RunID, dash(rep.Name), dash(rep.Project))
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	var paints []func(string) string
	for _, c := range rep.Checks {
		kind := strings.ToUpper(strings.ReplaceAll(string(c.Verdict.Kind), "_", " "))
		var paint func(string) string
		switch c.Verdict.Kind {
		case kernels.VerdictOK:
			kind = "ok"
		case kernels.VerdictRegression:
			paint = p.red
		case kernels.VerdictImproved:
			paint = p.green
		}
		paints = append(paints, paint)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Verdict.Metric, kind, c.Verdict.Reason)
	}
	tw.Flush()
	io.WriteString(w, p.rows(buf.String(), paints))
	if rep.Regressions > 0 {
		fmt.Fprintln(w, p.red(fmt.Sprintf("%d regression(s) flagged", rep.Regressions)))
	} else {
		fmt.Fprintln(w, "no regression flagged")
	}
}

// ---- regressions ----
