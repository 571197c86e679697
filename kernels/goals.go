package kernels

import (
	"errors"
	"fmt"
	"strings"
)

// Goal says which direction of a metric is better.
type Goal int

const (
	GoalUnknown Goal = iota // direction not known: no best step, never a regression
	GoalLower               // lower is better (loss, error, ...)
	GoalHigher              // higher is better (accuracy, reward, ...)
)

// ErrBadGoal is returned for a goal or goal rule that cannot be parsed.
var ErrBadGoal = errors.New("bad goal")

// String returns "unknown", "lower" or "higher".
func (g Goal) String() string {
	switch g {
	case GoalLower:
		return "lower"
	case GoalHigher:
		return "higher"
	default:
		return "unknown"
	}
}

// MarshalText encodes the goal as "unknown", "lower" or "higher".
func (g Goal) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText accepts "unknown", "lower" or "higher" (any case).
func (g *Goal) UnmarshalText(b []byte) error {
	p, err := ParseGoal(string(b))
	if err != nil {
		return err
	}
	*g = p
	return nil
}

// ParseGoal reads "lower", "higher" or "unknown" (any case).
func ParseGoal(s string) (Goal, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "lower":
		return GoalLower, nil
	case "higher":
		return GoalHigher, nil
	case "unknown":
		return GoalUnknown, nil
	}
	return GoalUnknown, fmt.Errorf("goal %q: want lower or higher: %w", s, ErrBadGoal)
}

// better reports whether a is strictly better than b under g.
func (g Goal) better(a, b float64) bool {
	switch g {
	case GoalLower:
		return a < b
	case GoalHigher:
		return a > b
	}
	return false
}

// GoalRule maps metrics whose name contains Contains (case-insensitive) to Goal.
type GoalRule struct {
	Contains string `json:"contains"`
	Goal     Goal   `json:"goal"`
}

// GoalRules is an ordered rule list: the first rule whose substring occurs
// in the metric name wins, so put specific rules before general ones.
type GoalRules struct {
	Rules []GoalRule `json:"rules"`
}

// DefaultGoalRules knows the usual ML metric names. Lower-better rules come
// first so that e.g. "eval/acc_loss" is a loss. "gap" and "residual" cover
// physics gates such as eval/physics/conservation_gap.
func DefaultGoalRules() GoalRules {
	lower := []string{"loss", "error", "mse", "rmse", "nrmse", "mae", "gap", "residual"}
	higher := []string{"acc", "accuracy", "f1", "auc", "precision", "recall", "reward"}
	r := GoalRules{Rules: make([]GoalRule, 0, len(lower)+len(higher))}
	for _, s := range lower {
		r.Rules = append(r.Rules, GoalRule{Contains: s, Goal: GoalLower})
	}
	for _, s := range higher {
		r.Rules = append(r.Rules, GoalRule{Contains: s, Goal: GoalHigher})
	}
	return r
}

// Goal returns the goal of the first rule matching metric, or GoalUnknown.
func (r GoalRules) Goal(metric string) Goal {
	m := strings.ToLower(metric)
	for _, rule := range r.Rules {
		if rule.Contains != "" && strings.Contains(m, strings.ToLower(rule.Contains)) {
			return rule.Goal
		}
	}
	return GoalUnknown
}

// Prepend returns rules with extra placed first, so user rules (from flags
// or config) override the defaults.
func (r GoalRules) Prepend(extra ...GoalRule) GoalRules {
	out := make([]GoalRule, 0, len(extra)+len(r.Rules))
	out = append(out, extra...)
	out = append(out, r.Rules...)
	return GoalRules{Rules: out}
}

// ParseGoalRule reads "substr=lower" or "substr=higher". The substring is
// everything before the last '=', so metric names containing '=' still work.
func ParseGoalRule(s string) (GoalRule, error) {
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return GoalRule{}, fmt.Errorf("goal rule %q: want SUBSTRING=lower or SUBSTRING=higher: %w", s, ErrBadGoal)
	}
	sub := strings.TrimSpace(s[:i])
	if sub == "" {
		return GoalRule{}, fmt.Errorf("goal rule %q: empty metric substring: %w", s, ErrBadGoal)
	}
	g, err := ParseGoal(s[i+1:])
	if err != nil || g == GoalUnknown {
		return GoalRule{}, fmt.Errorf("goal rule %q: want SUBSTRING=lower or SUBSTRING=higher: %w", s, ErrBadGoal)
	}
	return GoalRule{Contains: sub, Goal: g}, nil
}
