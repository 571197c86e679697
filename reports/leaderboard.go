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

// GetLeaderboard ranks every run with a finite summary value for the
// metric. The ranking is the ledger's (an indexed top-k query,
// ledger.DB.Rank); only the runs shown are read whole.
func GetLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions) (*Leaderboard, error) {
	lb := &Leaderboard{Metric: o.Metric, Rows: []LeaderboardRow{}}
	var src string
	rk, err := db.Rank(ctx, ledger.RankFilter{Metric: o.Metric, Project: o.Project, Group: o.Group}, o.Top,
		func(declared kernels.Goal) (kernels.Goal, error) {
			g, s, err := decideGoal(declared, o.Metric, o.Goals)
			src = s
			return g, err
		})
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	if len(rk.Runs) == 0 {
		return lb, nil
	}
	lb.Goal, lb.GoalSource = rk.Goal, null.String(src)
	var jobIDs []int64
	for _, r := range rk.Runs {
		for _, d := range r.Runs {
			if d.JobID != nil {
				jobIDs = append(jobIDs, *d.JobID)
			}
		}
	}
	tele, err := db.JobTelemetry(ctx, jobIDs)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	for i, r := range rk.Runs {
		lb.Rows = append(lb.Rows, leaderboardRow(i+1, newRunGroup(r.Key, r.Runs), r.Value, tele))
	}
	return lb, nil
}

// leaderboardRow is the row of the run g ranked rank with value v.
func leaderboardRow(rank int, g runGroup, v float64, tele map[int64]ledger.JobTelemetry) LeaderboardRow {
	row := LeaderboardRow{Rank: rank, RunID: g.ID(), Name: null.String(g.Name()), Project: null.String(g.Runs[0].Project),
		Group: null.String(g.Runs[0].Group), Value: v, State: runState(g), SyncState: string(syncState(g)), Dirs: g.Dirs()}
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
	return row
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
