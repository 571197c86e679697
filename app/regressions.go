package app

import (
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
)

// signedPct and signedF print new-minus-baseline numbers with their sign,
// "-" when there is none to print.
func signedPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

func signedF(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.2f", f)
}

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
			regs, err := db.Regressions(c.Context, f)
			if err != nil {
				return fmt.Errorf("regressions: %w", err)
			}
			out := make([]reports.RegressionJSON, 0, len(regs))
			for _, g := range regs {
				ids := g.BaselineRunIDs
				if ids == nil {
					ids = []string{}
				}
				out = append(out, reports.RegressionJSON{ID: g.ID, At: api.Time(g.At), RunID: g.RunID, Name: g.Name,
					Project: g.Project, Dir: g.Dir, Verdict: g.Verdict, BaselineRunIDs: ids})
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(env.Stdout, "no regressions recorded")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tRUN ID\tNAME\tMETRIC\tVALUE\tMEDIAN\tCHANGE\tZ")
			for _, r := range out {
				v := r.Verdict
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ago(env.Now(), r.At), dash(r.RunID), dash(r.Name), v.Metric,
					fmtF(v.Value), fmtF(v.Median), signedPct(v.RelDelta), signedF(v.Z))
			}
			return tw.Flush()
		}),
	}
}

// ---- compare ----
