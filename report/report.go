// Package report builds `runner report`'s self-contained HTML page and
// serves it live (`runner serve`): a leaderboard, regression checks
// against each run's baseline, line charts of history metrics and a
// run-vs-run table, all read from the ledger. The statistics are
// package reports' and kernels'; this package only selects, downsamples
// and draws. Nothing on the page is fetched at view time.
package report

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
	"github.com/runnerhq/runner/wandbfile"
)

// DefaultTop is how many runs a report of a project or group shows.
const DefaultTop = 50

// MaxCompared is how many runs the run-vs-run table lines up: more
// columns than this do not read side by side.
const MaxCompared = 10

// defaultCharts is how many history metrics are drawn when none is named.
const defaultCharts = 6

// ErrNoRuns: the selection matched no run with a value to rank.
var ErrNoRuns = errors.New("no runs match")

// Options select what a report shows.
type Options struct {
	Runs    []string // run ids or dirs; empty: the project's or group's best Top runs
	Project string
	Group   string
	// Sweep is a runner sweep or array (the id `runner submit --sweep` or
	// --array printed): its jobs' runs, as if named as Runs.
	Sweep   int64
	Rank    string   // summary metric of the leaderboard; "": the first eval/* one
	Metrics []string // history metrics to chart; empty: the first defaultCharts the runs logged
	Top     int      // <= 0: DefaultTop
	Regress reports.RegressOptions
	Title   string
	Now     func() time.Time
}

// Build reads the report o asks for from the ledger.
func Build(ctx context.Context, db *ledger.DB, o Options) (*Page, error) {
	if o.Top <= 0 {
		o.Top = DefaultTop
	}
	rank := o.Rank
	if rank == "" {
		var err error
		if rank, err = defaultRank(ctx, db, o.Project); err != nil {
			return nil, err
		}
	}
	if o.Sweep != 0 {
		runs, err := sweepRuns(ctx, db, o.Sweep)
		if err != nil {
			return nil, err
		}
		o.Runs = append(o.Runs, runs...)
	}
	var chosen map[string]bool // run id -> asked for
	if len(o.Runs) > 0 {
		// Compare resolves each RUN and fails on one the ledger does not know.
		cmp, err := reports.Compare(ctx, db, o.Runs, []string{rank})
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		chosen = map[string]bool{}
		for _, r := range cmp.Runs {
			chosen[r.RunID] = true
		}
	}
	top := o.Top
	if chosen != nil {
		top = 0 // the RUNs are ranked among all; few are kept
	}
	lb, err := reports.GetLeaderboard(ctx, db, reports.LeaderboardOptions{Metric: rank, Project: o.Project, Group: o.Group,
		Top: top, Goals: o.Regress.Goals})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rows := lb.Rows[:0:0]
	for _, r := range lb.Rows {
		if chosen == nil || chosen[r.RunID] {
			r.Rank = len(rows) + 1
			rows = append(rows, r)
		}
		if len(rows) == o.Top && chosen == nil {
			break
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("report: %w with a numeric %s", ErrNoRuns, rank)
	}
	lb.Rows = rows
	title := o.Title
	if title == "" {
		title = "runner report: " + describe(o, rank)
	}
	p := &Page{Title: title, Leaderboard: lb, Checks: map[string]reports.MetricCheck{}}
	if o.Now != nil {
		p.Generated = o.Now().UTC()
	}
	sels := make([]string, len(rows))
	for i, r := range rows {
		sels[i] = r.Dirs[0] // a dir names one run even where run ids repeat across projects
	}
	checks, err := reports.CheckRuns(ctx, db, sels, []string{rank}, o.Regress)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for i, rep := range checks {
		if len(rep.Checks) == 1 {
			p.Checks[rows[i].RunID] = rep.Checks[0]
		}
	}
	if p.Compare, err = reports.Compare(ctx, db, sels[:min(len(sels), MaxCompared)], nil); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	metrics := o.Metrics
	if len(metrics) == 0 {
		metrics = historyKeys(p.Compare, defaultCharts)
	}
	cs := NewCharts(metrics, len(rows))
	for _, r := range rows {
		if err := readSeries(ctx, db, r, metrics, cs); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	p.Charts = cs.Charts()
	return p, nil
}

func describe(o Options, rank string) string {
	parts := []string{}
	if o.Project != "" {
		parts = append(parts, "project "+o.Project)
	}
	if o.Group != "" {
		parts = append(parts, "group "+o.Group)
	}
	if len(o.Runs) > 0 {
		parts = append(parts, fmt.Sprintf("%d runs", len(o.Runs)))
	}
	if len(parts) == 0 {
		parts = append(parts, "all runs")
	}
	return strings.Join(parts, ", ") + " by " + rank
}

// defaultRank is the first numeric eval/* summary key of the project's runs.
func defaultRank(ctx context.Context, db *ledger.DB, project string) (string, error) {
	runs, err := db.ListRuns(ctx, ledger.Filter{Project: project})
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	best := ""
	for _, r := range runs {
		flat := ledger.FlatSummary(ledger.MergeSummaries([]ledger.Run{r}))
		for k := range flat {
			if _, ok := ledger.SummaryNumber(flat, k); ok && strings.HasPrefix(k, "eval/") && (best == "" || k < best) {
				best = k
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("report: %w with an eval/* summary metric: name one with --rank", ErrNoRuns)
	}
	return best, nil
}

// historyKeys are the first n history metrics of the compared runs.
func historyKeys(c *reports.CompareReport, n int) []string {
	var out []string
	for _, h := range c.History {
		if len(out) < n {
			out = append(out, h.Metric)
		}
	}
	sort.Strings(out)
	return out
}

// readSeries reads the run's logs, stage by stage, once for all metrics.
func readSeries(ctx context.Context, db *ledger.DB, r reports.LeaderboardRow, metrics []string, cs *Charts) error {
	merged := make(map[string]*kernels.Series, len(metrics))
	for _, m := range metrics {
		merged[m] = &kernels.Series{}
	}
	for _, d := range r.Dirs {
		run, err := db.GetRun(ctx, d)
		if err != nil {
			return err
		}
		col := kernels.NewSeriesCollector(kernels.DefaultMaxPoints, metrics...)
		if _, err := wandbfile.ReadFile(run.LogPath, wandbfile.Options{History: col.Add}); errors.Is(err, fs.ErrNotExist) {
			continue // collected by runner gc: the run stays ranked, with no curve
		} else if err != nil {
			return fmt.Errorf("read %s: %w", run.LogPath, err)
		}
		for _, m := range metrics {
			part := col.Series(m)
			merged[m].Steps = append(merged[m].Steps, part.Steps...)
			merged[m].Values = append(merged[m].Values, part.Values...)
		}
	}
	name := string(r.Name)
	if name == "" {
		name = r.RunID
	}
	for _, m := range metrics {
		s := merged[m]
		s.Name = name
		cs.Add(m, *s)
	}
	return nil
}

// sweepRuns are the recorded runs of the jobs of sweep (an array's id):
// their run ids, each once; a job whose run is not recorded yet is left out.
func sweepRuns(ctx context.Context, db *ledger.DB, sweep int64) ([]string, error) {
	list, err := jobs.ExpandArrays(ctx, db, []int64{sweep})
	if err != nil {
		return nil, fmt.Errorf("report: --sweep %d: %w", sweep, err)
	}
	var ids []string
	for _, j := range list {
		if j.RunID == "" || slices.Contains(ids, j.RunID) {
			continue
		}
		runs, err := db.ListRuns(ctx, ledger.Filter{RunID: j.RunID})
		if err != nil {
			return nil, fmt.Errorf("report: --sweep %d: %w", sweep, err)
		}
		if len(runs) > 0 {
			ids = append(ids, j.RunID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("report: --sweep %d: none of its %d jobs has a recorded run yet", sweep, len(list))
	}
	return ids, nil
}
