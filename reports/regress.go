// Package reports answers questions about runs from the ledger: metric
// summaries, comparisons, regression checks against earlier runs, the
// leaderboard and plots. It groups the dirs of one W&B run (pipeline
// stages, resumes) into one answer. The statistics are in kernels; the
// command line that prints the answers is in app.
package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
)

// DefaultWatchMetric is what the daemon evaluates when no --watch-metric is
// given: every evaluation summary metric, nested ones included.
const DefaultWatchMetric = "eval/*"

// ErrGoalUnknown: neither the log, the goal rules nor --goal say whether
// lower or higher is better for a metric.
var ErrGoalUnknown = errors.New("goal unknown")

// Goal sources reported next to a verdict or leaderboard.
const (
	goalFromFlag = "flag"
)

// GoalOptions decide a metric's goal: the run log's metric records first,
// then Rules (user rules before the defaults), then Fallback (--goal).
type GoalOptions struct {
	Rules    kernels.GoalRules // nil Rules: kernels.DefaultGoalRules()
	Fallback kernels.Goal
}

// RegressOptions configure CheckRun and Evaluate.
type RegressOptions struct {
	Goals      GoalOptions
	BaselineN  int                       // <= 0: kernels.DefaultBaselineN
	Thresholds kernels.RegressionOptions // zero fields: kernels defaults
}

// EvalOptions configure Evaluate (the daemon's check of a run that became ready).
type EvalOptions struct {
	RegressOptions
	Watch []string // metric names or globs ('*' also matches '/'); empty: DefaultWatchMetric
}

// MetricCheck is one element of CheckReport.Checks.
type MetricCheck struct {
	Verdict        kernels.Verdict `json:"verdict"`
	GoalSource     null.String     `json:"goal_source"` // log, rule or flag; null when the goal is unknown
	BaselineRunIDs []string        `json:"baseline_run_ids"`
}

// CheckReport is `runner check --json` (documented in the README).
type CheckReport struct {
	RunID       string        `json:"run_id"`
	Name        string        `json:"name"`
	Project     string        `json:"project"`
	Dirs        []string      `json:"dirs"`
	Regressions int           `json:"regressions"` // checks whose verdict kind is "regression"
	Checks      []MetricCheck `json:"checks"`
}

// runGroup is one W&B run: the dirs that share a project and run id
// (pipeline stages, resumes) in stage order, with their merged summary.
type runGroup struct {
	Key     string
	Runs    []ledger.Run
	Summary map[string]any // merged, non-finite values as float64
}

func newRunGroup(key string, runs []ledger.Run) runGroup {
	runs = append([]ledger.Run(nil), runs...)
	return runGroup{Key: key, Runs: runs, Summary: ledger.MergeSummaries(runs)}
}

// groupRuns splits runs into W&B runs, in order of first appearance.
func groupRuns(runs []ledger.Run) []runGroup {
	var order []string
	by := map[string][]ledger.Run{}
	for _, r := range runs {
		if _, ok := by[r.GroupKey]; !ok {
			order = append(order, r.GroupKey)
		}
		by[r.GroupKey] = append(by[r.GroupKey], r)
	}
	out := make([]runGroup, 0, len(order))
	for _, k := range order {
		out = append(out, newRunGroup(k, by[k]))
	}
	return out
}

// ID is the W&B run id, or the dir for a log without one.
func (g runGroup) ID() string {
	if id := g.Runs[0].RunID; id != "" {
		return id
	}
	return g.Runs[0].Dir
}

// Name is the last non-empty run name across the stages.
func (g runGroup) Name() string {
	name := ""
	for _, r := range g.Runs {
		if r.Name != "" {
			name = r.Name
		}
	}
	return name
}

func (g runGroup) Dirs() []string {
	out := make([]string, len(g.Runs))
	for i, r := range g.Runs {
		out[i] = r.Dir
	}
	return out
}

// finished: no stage is still being written.
func (g runGroup) finished() bool {
	for _, r := range g.Runs {
		if r.State == ledger.StateActive {
			return false
		}
	}
	return true
}

// endedAt is when the last stage ended: start time plus runtime when the log
// says both, else the log's last modification.
func (g runGroup) endedAt() time.Time {
	var end time.Time
	for _, r := range g.Runs {
		t := r.MTime
		if r.StartTime != nil && r.RuntimeS != nil {
			t = r.StartTime.Add(time.Duration(*r.RuntimeS) * time.Second)
		}
		if t.After(end) {
			end = t
		}
	}
	return end
}

// candidate describes the run to kernels.SelectBaseline. Group and job type
// are the first stage's, where W&B records them.
func (g runGroup) candidate() kernels.Candidate {
	first := g.Runs[0]
	return kernels.Candidate{
		RunID: g.ID(), Dir: first.Dir, Project: first.Project, Group: first.Group, JobType: first.JobType,
		Finished: g.finished(), EndedAt: g.endedAt(), Summary: ledger.FlatSummary(g.Summary),
	}
}

// numericKeys returns the summary keys holding numbers that match one of
// the globs, sorted, leaving out W&B's underscore keys.
func numericKeys(flat map[string]any, globs []string) []string {
	var out []string
	for k := range flat {
		if strings.HasPrefix(k, "_") {
			continue
		}
		if _, ok := ledger.SummaryNumber(flat, k); !ok {
			continue
		}
		for _, g := range globs {
			if globMatch(g, k) {
				out = append(out, k)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// globMatch matches '*' (any run of characters, '/' included) and '?' (one
// character); everything else is literal.
func globMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	// Iterative wildcard match with one backtrack point.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[si]) && p[pi] != '*':
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// resolveGoal decides the goal of metric for the runs in dirs (every run
// when dirs is empty): a metric record in their logs, else the rules, else
// the fallback. It returns ErrGoalUnknown when none says.
func resolveGoal(ctx context.Context, db *ledger.DB, metric string, dirs []string, o GoalOptions) (kernels.Goal, string, error) {
	g, err := db.DeclaredGoal(ctx, metric, dirs)
	if err != nil {
		return kernels.GoalUnknown, "", err
	}
	return decideGoal(g, metric, o)
}

// decideGoal is resolveGoal once the logs' declared goal g is known.
func decideGoal(g kernels.Goal, metric string, o GoalOptions) (kernels.Goal, string, error) {
	if g != kernels.GoalUnknown {
		return g, ledger.GoalFromLog, nil
	}
	rules := o.Rules
	if rules.Rules == nil {
		rules = kernels.DefaultGoalRules()
	}
	if g := rules.Goal(metric); g != kernels.GoalUnknown {
		return g, ledger.GoalFromRule, nil
	}
	if o.Fallback != kernels.GoalUnknown {
		return o.Fallback, goalFromFlag, nil
	}
	return kernels.GoalUnknown, "", fmt.Errorf("metric %s: %w", metric, ErrGoalUnknown)
}

// loadGroup returns the whole W&B run a ledger row belongs to.
func loadGroup(ctx context.Context, db *ledger.DB, r ledger.Run) (runGroup, error) {
	if r.RunID == "" {
		return newRunGroup(r.GroupKey, []ledger.Run{r}), nil
	}
	runs, err := db.ListRuns(ctx, ledger.Filter{Project: r.Project, RunID: r.RunID})
	if err != nil {
		return runGroup{}, err
	}
	var same []ledger.Run
	for _, x := range runs {
		if x.GroupKey == r.GroupKey {
			same = append(same, x)
		}
	}
	if len(same) == 0 {
		same = []ledger.Run{r}
	}
	return newRunGroup(r.GroupKey, same), nil
}

// ErrNoMetric: the run has no summary value for a metric that was asked for.
var ErrNoMetric = errors.New("no such summary metric")

// unknownGoal says what checkGroup does with a metric whose goal is unknown.
type unknownGoal int

const (
	unknownFails unknownGoal = iota // ErrGoalUnknown: the user named the metric
	unknownSkips                    // leave it out (the daemon: nothing to record)
	unknownShows                    // judge it without a direction: never a regression, the reason says so
)

// checkGroup judges the given metrics of target against its baseline.
func checkGroup(ctx context.Context, db *ledger.DB, target runGroup, metrics []string, o RegressOptions, unknown unknownGoal) (*CheckReport, error) {
	tc := target.candidate()
	rep := &CheckReport{RunID: target.ID(), Name: target.Name(), Project: tc.Project, Dirs: target.Dirs(), Checks: []MetricCheck{}}
	if len(metrics) == 0 {
		return rep, nil
	}
	cands, err := projectCandidates(ctx, db, tc.Project, metrics)
	if err != nil {
		return nil, err
	}
	return checkAgainst(ctx, db, rep, tc, cands, metrics, o, unknown)
}

// projectCandidates are the baseline candidates of a project: its W&B
// runs, each with the summary values of metrics (all that SelectBaseline
// reads of a candidate's summary). The values come from the ledger's
// summary values; only while a group of the project is stale are the
// runs' summaries read and merged here.
func projectCandidates(ctx context.Context, db *ledger.DB, project string, metrics []string) ([]kernels.Candidate, error) {
	peers, values, ok, err := db.BaselineRuns(ctx, project, metrics)
	if err != nil {
		return nil, err
	}
	if !ok {
		if peers, err = db.ListRuns(ctx, ledger.Filter{Project: project}); err != nil {
			return nil, err
		}
	}
	var cands []kernels.Candidate
	for _, g := range groupRuns(peers) {
		if g.Runs[0].Project != project {
			continue
		}
		c := g.candidate()
		if ok {
			c.Summary = make(map[string]any, len(metrics))
			for m, v := range values[g.Key] {
				c.Summary[m] = v
			}
		}
		cands = append(cands, c)
	}
	return cands, nil
}

// CheckRuns is CheckRun for many runs at once (runner report): each
// project's runs are read once for all its runs' baselines, not once per
// run. A metric whose goal is unknown is an error, as for CheckRun.
func CheckRuns(ctx context.Context, db *ledger.DB, sels []string, metrics []string, o RegressOptions) ([]*CheckReport, error) {
	byProject := map[string][]kernels.Candidate{}
	out := make([]*CheckReport, 0, len(sels))
	for _, sel := range sels {
		g, err := resolveGroup(ctx, db, "check", sel)
		if err != nil {
			return nil, err
		}
		tc := g.candidate()
		cands, ok := byProject[tc.Project]
		if !ok {
			if cands, err = projectCandidates(ctx, db, tc.Project, metrics); err != nil {
				return nil, fmt.Errorf("check: %w", err)
			}
			byProject[tc.Project] = cands
		}
		rep := &CheckReport{RunID: g.ID(), Name: g.Name(), Project: tc.Project, Dirs: g.Dirs(), Checks: []MetricCheck{}}
		if rep, err = checkAgainst(ctx, db, rep, tc, cands, metrics, o, unknownFails); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		out = append(out, rep)
	}
	return out, nil
}

// checkAgainst judges metrics of the run tc describes against cands, into rep.
func checkAgainst(ctx context.Context, db *ledger.DB, rep *CheckReport, tc kernels.Candidate, cands []kernels.Candidate,
	metrics []string, o RegressOptions, unknown unknownGoal) (*CheckReport, error) {
	for _, m := range metrics {
		value, ok := ledger.SummaryNumber(tc.Summary, m)
		if !ok {
			return nil, fmt.Errorf("run %s has no numeric summary value for %s: %w", rep.RunID, m, ErrNoMetric)
		}
		goal, src, err := resolveGoal(ctx, db, m, rep.Dirs, o.Goals)
		switch {
		case errors.Is(err, ErrGoalUnknown) && unknown == unknownSkips:
			continue
		case errors.Is(err, ErrGoalUnknown) && unknown == unknownShows:
			goal, src = kernels.GoalUnknown, ""
		case err != nil:
			return nil, err
		}
		base := kernels.SelectBaseline(tc, m, cands, o.BaselineN)
		v := kernels.Check(m, goal, value, base, o.Thresholds)
		ids := base.RunIDs
		if ids == nil {
			ids = []string{}
		}
		rep.Checks = append(rep.Checks, MetricCheck{Verdict: v, GoalSource: null.String(src), BaselineRunIDs: ids})
		if v.Kind == kernels.VerdictRegression {
			rep.Regressions++
		}
	}
	return rep, nil
}

// Evaluate is the daemon's regression check of the run in dir when it
// becomes ready: every watched summary metric with a known goal is judged
// against the run's baseline, and the regressions found replace what an
// earlier evaluation of the same run recorded (ledger table and events).
func Evaluate(ctx context.Context, db *ledger.DB, dir string, o EvalOptions) (*CheckReport, error) {
	r, err := db.GetRun(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", dir, err)
	}
	g, err := loadGroup(ctx, db, r)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", dir, err)
	}
	watch := o.Watch
	if len(watch) == 0 {
		watch = []string{DefaultWatchMetric}
	}
	metrics := numericKeys(ledger.FlatSummary(g.Summary), watch)
	rep, err := checkGroup(ctx, db, g, metrics, o.RegressOptions, unknownSkips)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", dir, err)
	}
	evaluated := make([]string, 0, len(rep.Checks))
	var flagged []ledger.Regression
	for _, c := range rep.Checks {
		evaluated = append(evaluated, c.Verdict.Metric)
		if c.Verdict.Kind == kernels.VerdictRegression {
			flagged = append(flagged, ledger.Regression{
				Dir: dir, RunID: r.RunID, Project: r.Project, Verdict: c.Verdict, BaselineRunIDs: c.BaselineRunIDs,
			})
		}
	}
	if err := db.RecordRegressions(ctx, dir, evaluated, flagged); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", dir, err)
	}
	return rep, nil
}

// RegressionHook returns an Engine.OnReady hook that evaluates each run that
// becomes ready and logs what it found; errors are logged, never fatal.
func RegressionHook(db *ledger.DB, o EvalOptions, logger *slog.Logger) func(ctx context.Context, r ledger.Run) {
	return func(ctx context.Context, r ledger.Run) {
		rep, err := Evaluate(ctx, db, r.Dir, o)
		if err != nil {
			if ctx.Err() == nil { // not the daemon stopping
				logger.Error("regression check", "dir", r.Dir, "err", err)
			}
			return
		}
		for _, c := range rep.Checks {
			if c.Verdict.Kind == kernels.VerdictRegression {
				logger.Warn("regression", "run_id", rep.RunID, "metric", c.Verdict.Metric, "reason", c.Verdict.Reason)
			}
		}
	}
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// RequestError is a question that cannot be answered as asked (an
// ambiguous run, no metric to check): the command line reports it as bad
// usage, not as a failure.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &RequestError{msg: fmt.Sprintf(format, args...)}
}
