package app

import (
	"errors"
	"log/slog"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
)

func floatFlag(name, usage string, def float64) *cli.Float64Flag {
	return &cli.Float64Flag{Name: name, Usage: usage, Value: def, EnvVars: []string{envName(name)}}
}

// goalFlags decide a metric's goal when the run's log does not.
func goalFlags() []cli.Flag {
	return []cli.Flag{
		listFlag("goal-rule", "SUBSTRING=lower|higher: metrics whose name contains SUBSTRING (repeatable; before the default rules)"),
		stringFlag("goal", "lower or higher: the goal of metrics that neither the log nor a rule decides", ""),
	}
}

// RegressionFlags are the baseline and threshold flags of check, and of the
// daemon's evaluation (with WatchFlag).
func RegressionFlags() []cli.Flag {
	return append(goalFlags(),
		intFlag("baseline", "judge against the last N finished runs of the project that have the metric", kernels.DefaultBaselineN),
		floatFlag("z", "robust z-score a regression must exceed", kernels.DefaultZThreshold),
		floatFlag("rel", "relative change a regression must exceed (0.01 = 1%)", kernels.DefaultRelThreshold),
		intFlag("min-baseline", "fewer baseline runs than this: not enough history, no verdict", kernels.DefaultMinBaseline),
	)
}

// WatchFlag is the daemon's --watch-metric.
func WatchFlag() cli.Flag {
	return listFlag("watch-metric", "summary metric or glob the daemon checks for regressions when a run is ready (repeatable; default "+reports.DefaultWatchMetric+")")
}

func goalOptions(c *cli.Context) (reports.GoalOptions, error) {
	var o reports.GoalOptions
	var extra []kernels.GoalRule
	for _, s := range c.StringSlice("goal-rule") {
		r, err := kernels.ParseGoalRule(s)
		if err != nil {
			return o, usagef("invalid --goal-rule: %v", err)
		}
		extra = append(extra, r)
	}
	o.Rules = kernels.DefaultGoalRules().Prepend(extra...)
	if s := c.String("goal"); s != "" {
		g, err := kernels.ParseGoal(s)
		if err != nil || g == kernels.GoalUnknown {
			return o, usagef("invalid --goal %q: say --goal lower or --goal higher", s)
		}
		o.Fallback = g
	}
	return o, nil
}

// RegressOptionsFrom reads RegressionFlags.
func RegressOptionsFrom(c *cli.Context) (reports.RegressOptions, error) {
	g, err := goalOptions(c)
	if err != nil {
		return reports.RegressOptions{}, err
	}
	o := reports.RegressOptions{Goals: g, BaselineN: c.Int("baseline"), Thresholds: kernels.RegressionOptions{
		MinBaseline: c.Int("min-baseline"), ZThreshold: c.Float64("z"), RelThreshold: c.Float64("rel"),
	}}
	switch {
	case o.BaselineN < 1:
		return o, usagef("invalid --baseline %d: want 1 or more", o.BaselineN)
	case o.Thresholds.MinBaseline < 1:
		return o, usagef("invalid --min-baseline %d: want 1 or more", o.Thresholds.MinBaseline)
	case !(o.Thresholds.ZThreshold > 0) || math.IsInf(o.Thresholds.ZThreshold, 0):
		return o, usagef("invalid --z %v: want a positive number", o.Thresholds.ZThreshold)
	case !(o.Thresholds.RelThreshold > 0) || math.IsInf(o.Thresholds.RelThreshold, 0):
		return o, usagef("invalid --rel %v: want a positive number", o.Thresholds.RelThreshold)
	}
	return o, nil
}

// EvalOptionsFrom reads RegressionFlags and WatchFlag (for the daemon).
func EvalOptionsFrom(c *cli.Context) (reports.EvalOptions, error) {
	o, err := RegressOptionsFrom(c)
	if err != nil {
		return reports.EvalOptions{}, err
	}
	return reports.EvalOptions{RegressOptions: o, Watch: c.StringSlice("watch-metric")}, nil
}

// goalError turns an unknown goal into the usage error the user can act on.
func goalError(err error) error {
	var bad *reports.RequestError
	switch {
	case errors.Is(err, reports.ErrGoalUnknown):
		return usagef("%v: say --goal lower or --goal higher (or --goal-rule SUBSTRING=lower|higher)", err)
	case errors.Is(err, reports.ErrNoMetric), errors.As(err, &bad):
		return usagef("%v", err)
	}
	return err
}

// kernelAction opens the ledger read-only and runs fn.
func kernelAction(env Env, fn func(c *cli.Context, db *ledger.DB) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
			return goalError(fn(c, db))
		})
	}
}
