package app

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
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
				return writeJSON(env.Stdout, rep)
			}
			printCompare(env.Stdout, rep)
			return nil
		}),
	}
}

func printCompare(w io.Writer, rep *reports.CompareReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "SUMMARY"
	for i, r := range rep.Runs {
		label := r.RunID
		if r.Name != "" {
			label += " (" + r.Name + ")"
		}
		head += "\t" + label
		if i > 0 {
			head += "\tCHANGE"
		}
	}
	fmt.Fprintln(tw, head)
	for _, row := range rep.Summary {
		line := row.Metric
		for i := range rep.Runs {
			line += "\t" + fmtNum(row.Values[i])
			if i > 0 {
				line += "\t" + fmtChange(row.Diff[i], row.Rel[i])
			}
		}
		fmt.Fprintln(tw, line)
	}
	if len(rep.History) > 0 {
		fmt.Fprintln(tw, "HISTORY (last / min / max)")
		for _, row := range rep.History {
			line := row.Metric
			for i, m := range row.Runs {
				if m == nil || m.Count == 0 {
					line += "\t-"
				} else {
					line += fmt.Sprintf("\t%s / %s / %s", fmtF(m.Last), fmtF(m.Min), fmtF(m.Max))
				}
				if i > 0 {
					line += "\t"
				}
			}
			fmt.Fprintln(tw, line)
		}
	}
	tw.Flush()
	if len(rep.ConfigDiff) == 0 {
		fmt.Fprintln(w, "config: identical")
		return
	}
	fmt.Fprintln(w, "config differences:")
	keys := make([]string, 0, len(rep.ConfigDiff))
	for k := range rep.ConfigDiff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := make([]string, len(rep.ConfigDiff[k]))
		for i, v := range rep.ConfigDiff[k] {
			vals[i] = string(v)
		}
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(vals, " | "))
	}
}

func fmtChange(d, rel *float64) string {
	if d == nil {
		return "-"
	}
	s := strconv.FormatFloat(*d, 'g', 4, 64)
	if *d >= 0 {
		s = "+" + s
	}
	if rel != nil {
		s += fmt.Sprintf(" (%+.1f%%)", 100**rel)
	}
	return s
}

// ---- leaderboard ----
