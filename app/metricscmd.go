package app

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
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
			if c.Args().Len() > 1 {
				return usagef("metrics: takes one RUN, got %d", c.Args().Len())
			}
			rep, err := reports.Metrics(c.Context, db, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, rep)
			}
			printMetrics(env.Stdout, rep)
			return nil
		}),
	}
}

func printMetrics(w io.Writer, rep *reports.MetricsReport) {
	fmt.Fprintf(w, "run %s (%s) in project %s\n", rep.RunID, dash(rep.Name), dash(rep.Project))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tGOAL\tCOUNT\tLAST\tMIN\tMAX\tMEAN\tSTD\tBEST STEP\tEMA\tSLOPE\tSKIPPED")
	multi := len(rep.Dirs) > 1
	lastDir := ""
	for _, m := range rep.Metrics {
		if multi && m.Dir != lastDir {
			fmt.Fprintf(tw, "[%s]\n", filepath.Base(m.Dir))
			lastDir = m.Dir
		}
		best := "-"
		if m.BestStep != nil {
			best = strconv.FormatInt(*m.BestStep, 10)
		}
		skipped := "-"
		if m.NonNumeric+m.NonFinite > 0 {
			skipped = fmt.Sprintf("%d non-numeric, %d NaN/Inf", m.NonNumeric, m.NonFinite)
		}
		if m.Count == 0 {
			fmt.Fprintf(tw, "%s\t%s\t0\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", m.Key, goalText(m), skipped)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Key, goalText(m), m.Count,
			fmtF(m.Last), fmtF(m.Min), fmtF(m.Max), fmtF(m.Mean), fmtF(m.Std), best, fmtF(m.EMA), fmtNum(m.Slope), skipped)
	}
	tw.Flush()
	var sum map[string]any
	if json.Unmarshal(rep.Summary, &sum) == nil && len(sum) > 0 {
		fmt.Fprintln(w, "summary:")
		keys := make([]string, 0, len(sum))
		for k := range sum {
			if !strings.HasPrefix(k, "_") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := json.Marshal(sum[k])
			s := string(b)
			if len(s) > 80 {
				s = s[:77] + "..."
			}
			fmt.Fprintf(w, "  %s = %s\n", k, s)
		}
	}
}

func goalText(m reports.StageMetric) string {
	if m.GoalSource == "" {
		return m.Goal.String()
	}
	return m.Goal.String() + " (" + string(m.GoalSource) + ")"
}

// ---- check ----
