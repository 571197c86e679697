package api

import "github.com/runnerhq/runner/ledger"

// Run is one element of `runner runs --json`.
type Run struct {
	RunID        *string `json:"run_id"`
	Dir          string  `json:"dir"`
	Project      *string `json:"project"`
	Entity       *string `json:"entity"`
	Name         *string `json:"name"`
	Group        *string `json:"group"`
	JobType      *string `json:"job_type"`
	State        string  `json:"state"`
	Reason       *string `json:"reason"`
	Finished     bool    `json:"finished"`
	ExitCode     *int    `json:"exit_code"`
	TornTail     bool    `json:"torn_tail"`
	ReadError    *string `json:"read_error"`
	WandbVersion *string `json:"wandb_version"`
	StartTime    *string `json:"start_time"`
	Size         int64   `json:"size"`
	Attempts     int     `json:"attempts"`
	NextAttempt  *string `json:"next_attempt_at"`
	LastError    *string `json:"last_error"`
	URL          *string `json:"url"`
	Source       *string `json:"source"`
	SyncedAt     *string `json:"synced_at"`
	FirstSeen    string  `json:"first_seen"`
	JobID        *int64  `json:"job_id"`
}

// RunOf is r as --json prints it.
func RunOf(r ledger.Run) Run {
	return Run{
		RunID: Str(r.RunID), Dir: r.Dir, Project: Str(r.Project), Entity: Str(r.Entity), Name: Str(r.Name),
		Group: Str(r.Group), JobType: Str(r.JobType), State: string(r.State), Reason: Str(r.Reason),
		Finished: r.Finished, ExitCode: r.ExitCode, TornTail: r.TornTail, ReadError: Str(r.ReadError),
		WandbVersion: Str(r.WandbVersion), StartTime: TimePtr(r.StartTime), Size: r.Size,
		Attempts: r.Attempts, NextAttempt: TimePtr(r.NextAttemptAt), LastError: Str(r.LastError),
		URL: Str(r.URL), Source: Str(r.Source), SyncedAt: TimePtr(r.SyncedAt),
		FirstSeen: Time(r.FirstSeen), JobID: r.JobID,
	}
}
