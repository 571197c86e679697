package text

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/runnerhq/runner/doctor"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/reports"
)

func fmtNum(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

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

// Metrics is `runner metrics`: a run's history summaries, then its final summary.
func Metrics(w io.Writer, rep *reports.MetricsReport) {
	fmt.Fprintf(w, "run %s (%s) in project %s\n", rep.RunID, dash(rep.Name), dash(rep.Project))
	tw := newTabs(w, 2)
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

// Compare is `runner compare`: the runs side by side, each against the first.
func Compare(w io.Writer, rep *reports.CompareReport) {
	tw := newTabs(w, 2)
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

// Leaderboard is `runner leaderboard`: the best runs by one summary metric.
func Leaderboard(w io.Writer, lb *reports.Leaderboard) {
	if len(lb.Rows) == 0 {
		fmt.Fprintf(w, "no run has a numeric summary value for %s\n", lb.Metric)
		return
	}
	fmt.Fprintf(w, "%s (%s is better, from %s)\n", lb.Metric, lb.Goal, lb.GoalSource)
	tw := newTabs(w, 2)
	fmt.Fprintln(tw, "#\tRUN ID\tNAME\tVALUE\tJOB\tGPU H\tENERGY KJ\tSTATE\tSYNC\tURL")
	for _, r := range lb.Rows {
		job := "-"
		if r.JobID != nil {
			job = strconv.FormatInt(*r.JobID, 10)
		}
		energy := "-"
		if r.EnergyJ != nil {
			energy = fmtF(*r.EnergyJ / 1000)
		}
		url := "-"
		if r.URL != nil {
			url = *r.URL
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Rank, r.RunID, dash(string(r.Name)), fmtF(r.Value),
			job, fmtNum(r.GPUHours), energy, r.State, r.SyncState, url)
	}
	tw.Flush()
}

// Check is `runner check`: a verdict per metric, regressions red and
// improvements green.
func Check(w io.Writer, rep *reports.CheckReport, p Palette) {
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
			paint = p.Red
		case kernels.VerdictImproved:
			paint = p.Green
		}
		paints = append(paints, paint)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Verdict.Metric, kind, c.Verdict.Reason)
	}
	tw.Flush()
	io.WriteString(w, p.Rows(buf.String(), paints))
	if rep.Regressions > 0 {
		fmt.Fprintln(w, p.Red(fmt.Sprintf("%d regression(s) flagged", rep.Regressions)))
	} else {
		fmt.Fprintln(w, "no regression flagged")
	}
}

// Regressions is `runner regressions`: one row per flagged regression.
func Regressions(w io.Writer, pass func(func(reports.RegressionJSON) error) error, now time.Time) error {
	head := []string{"AT", "RUN ID", "NAME", "METRIC", "VALUE", "MEDIAN", "CHANGE", "Z"}
	c := columns{gap: 2}
	c.measure(head)
	n := 0
	if err := pass(func(r reports.RegressionJSON) error {
		n++
		c.measure(regressionRow(r, now))
		return nil
	}); err != nil {
		return err
	}
	if n == 0 {
		_, err := fmt.Fprintln(w, "no regressions recorded")
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	write := func(row []string) error {
		line = append(c.line(line[:0], row), '\n')
		_, err := bw.Write(line)
		return err
	}
	if err := write(head); err != nil {
		return err
	}
	if err := pass(func(r reports.RegressionJSON) error { return write(regressionRow(r, now)) }); err != nil {
		return err
	}
	return bw.Flush()
}

// regressionRow is the cells of r's row.
func regressionRow(r reports.RegressionJSON, now time.Time) []string {
	v := r.Verdict
	return []string{Ago(now, r.At), dash(r.RunID), dash(r.Name), v.Metric, fmtF(v.Value), fmtF(v.Median), signedPct(v.RelDelta), signedF(v.Z)}
}

// Checks is `runner doctor`: one line per check, and how to fix it.
func Checks(w io.Writer, checks []doctor.Check) {
	for _, ch := range checks {
		fmt.Fprintf(w, "%-4s  %-12s  %s\n", ch.Level, ch.Name, ch.Detail)
		if ch.Fix != "" {
			fmt.Fprintf(w, "      %-12s  fix: %s\n", "", ch.Fix)
		}
	}
}
