package reports

import (
	"context"
	"fmt"

	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
)

// DefaultTop is how many runs `runner leaderboard` shows.
const DefaultTop = 10

// LeaderboardRow is one element of Leaderboard.Rows.
type LeaderboardRow struct {
	Rank      int         `json:"rank"`
	RunID     string      `json:"run_id"`
	Name      null.String `json:"name"`
	Project   null.String `json:"project"`
	Group     null.String `json:"group"`
	Value     float64     `json:"value"`
	JobID     *int64      `json:"job_id"`
	GPUHours  *float64    `json:"gpu_hours"` // null without job telemetry
	EnergyJ   *float64    `json:"energy_j"`  // null without job telemetry
	State     string      `json:"state"`     // running, finished, crashed (exit code != 0) or killed (no exit record)
	SyncState string      `json:"sync_state"`
	URL       *string     `json:"url"`
	Dirs      []string    `json:"dirs"`
}

// Leaderboard is `runner leaderboard --json`.
type Leaderboard struct {
	Metric     string           `json:"metric"`
	Goal       kernels.Goal     `json:"goal"`
	GoalSource null.String      `json:"goal_source"`
	Rows       []LeaderboardRow `json:"rows"`
}

// LeaderboardOptions select and order the runs.
type LeaderboardOptions struct {
	Metric  string
	Project string
	Group   string
	Top     int // <= 0: all
	Goals   GoalOptions
}

// GetLeaderboard ranks every run with a finite summary value for the metric.
func GetLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions) (*Leaderboard, error) {
	runs, err := db.ListRuns(ctx, ledger.Filter{Project: o.Project})
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	lb := &Leaderboard{Metric: o.Metric, Rows: []LeaderboardRow{}}
	values := map[string]float64{}
	byKey := map[string]runGroup{}
	var dirs []string
	for _, g := range groupRuns(runs) {
		if o.Group != "" && g.Runs[0].Group != o.Group {
			continue
		}
		v, ok := summaryNumber(flatSummary(g.Summary), o.Metric)
		if !ok || !finite(v) {
			continue
		}
		values[g.Key] = v
		byKey[g.Key] = g
		dirs = append(dirs, g.Dirs()...)
	}
	if len(values) == 0 {
		return lb, nil
	}
	goal, src, err := resolveGoal(ctx, db, o.Metric, dirs, o.Goals)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	lb.Goal, lb.GoalSource = goal, null.String(src)
	order := kernels.Rank(values, goal)
	if o.Top > 0 && len(order) > o.Top {
		order = order[:o.Top]
	}
	var jobIDs []int64
	for _, k := range order {
		for _, r := range byKey[k].Runs {
			if r.JobID != nil {
				jobIDs = append(jobIDs, *r.JobID)
			}
		}
	}
	tele, err := db.JobTelemetry(ctx, jobIDs)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	for i, k := range order {
		g := byKey[k]
		row := LeaderboardRow{Rank: i + 1, RunID: g.ID(), Name: null.String(g.Name()), Project: null.String(g.Runs[0].Project),
			Group: null.String(g.Runs[0].Group), Value: values[k], State: runState(g), SyncState: string(syncState(g)), Dirs: g.Dirs()}
		seen := map[int64]bool{}
		for _, r := range g.Runs {
			if r.URL != "" && row.URL == nil {
				u := r.URL
				row.URL = &u
			}
			if r.JobID == nil || seen[*r.JobID] {
				continue
			}
			seen[*r.JobID] = true
			if row.JobID == nil {
				id := *r.JobID
				row.JobID = &id
			}
			t, ok := tele[*r.JobID]
			if !ok {
				continue
			}
			row.GPUHours = addPtr(row.GPUHours, t.GPUHours)
			row.EnergyJ = addPtr(row.EnergyJ, t.EnergyJ)
		}
		lb.Rows = append(lb.Rows, row)
	}
	return lb, nil
}

func addPtr(acc, x *float64) *float64 {
	if x == nil {
		return acc
	}
	v := *x
	if acc != nil {
		v += *acc
	}
	return &v
}

// runState is how the run itself ended, as opposed to its sync state.
func runState(g runGroup) string {
	last := g.Runs[len(g.Runs)-1]
	for _, r := range g.Runs {
		if r.State == ledger.StateActive && !r.Finished && !r.Footer {
			return "running"
		}
		if r.ExitCode != nil && *r.ExitCode != 0 {
			return "crashed"
		}
	}
	if !last.Finished && !last.Footer {
		return "killed"
	}
	return "finished"
}

// syncState is the group's least advanced sync state (synced only when all are).
func syncState(g runGroup) ledger.State {
	for _, s := range ledger.AllStates {
		if s == ledger.StateSynced {
			continue
		}
		for _, r := range g.Runs {
			if r.State == s {
				return s
			}
		}
	}
	return ledger.StateSynced
}
