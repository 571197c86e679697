// Package status is what `runner status` shows, read from the ledger: the
// daemon's heartbeat, runs by state and what they wait for, upload pauses,
// jobs and the last GPU sample. Printing is the CLI's.
package status

import (
	"context"
	"slices"
	"time"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// Status is `runner status --json` (documented in the README).
type Status struct {
	Daemon struct {
		Up          bool     `json:"up"`
		UptimeS     *float64 `json:"uptime_s"` // null when down
		PID         *int     `json:"pid"`
		Host        *string  `json:"host"`
		Version     *string  `json:"version"`
		StartedAt   *string  `json:"started_at"`
		HeartbeatAt *string  `json:"heartbeat_at"`
		StoppedAt   *string  `json:"stopped_at"`
		Watch       []string `json:"watch"`
	} `json:"daemon"`
	Runs              map[string]int `json:"runs"`
	OldestPendingAgeS *float64       `json:"oldest_pending_age_s"`
	// Uploads: paused when a pause holds the daemon's configuration.
	Uploads struct {
		// State: running, paused, off (--no-upload), not running (daemon down).
		State       string  `json:"state"`
		Paused      bool    `json:"paused"`
		Reason      *string `json:"reason"`
		PausedSince *string `json:"paused_since"`
		Last24h     struct {
			Synced int `json:"synced"`
			Failed int `json:"failed"`
		} `json:"last_24h"`
	} `json:"uploads"`
	// Waiting says why runs are not uploaded yet.
	Waiting []Waiting `json:"waiting"`
	// RunningJobs are the jobs running now, with their elapsed time.
	RunningJobs []Job `json:"running_jobs"`

	// At is when it was read: ages in the human form are relative to it.
	At time.Time `json:"-"`
	// Pauses lists every paused configuration, the daemon's or not.
	Pauses     []Pause `json:"pauses"`
	LastErrors []Error `json:"last_errors"`
	// Regressions is how many regressions the daemon has flagged (runner regressions lists them).
	Regressions int `json:"regressions"`
	// Jobs counts jobs by state; GPUs is the daemon's last GPU sample (null if none).
	Jobs map[string]int `json:"jobs"`
	GPUs *GPUs          `json:"gpus"`
	// QueueBlock is why no queued job starts now (jobs.QueueBlock: "daemon
	// down" or "queue paused"); "" when the queue runs.
	QueueBlock string `json:"queue_block"`
	// JobLimits are the limits runner config set (cpu-slots, gpus), which
	// win over the daemon's flags; {} when none is set.
	JobLimits map[string]string `json:"job_limits"`
}

// Pause is one paused upload configuration.
type Pause struct {
	Scope       string `json:"scope"`
	Config      string `json:"config"`
	Reason      string `json:"reason"`
	By          string `json:"by"`
	Since       string `json:"since"`
	HoldsDaemon bool   `json:"holds_daemon"`
}

// Waiting is a group of runs that wait for the same thing.
type Waiting struct {
	State  string `json:"state"`
	Count  int    `json:"count"`
	Reason string `json:"reason"`
	// ReadyWithinS: all of them are due within this many seconds (null: not by time).
	ReadyWithinS *float64 `json:"ready_within_s"`
}

// Job is a running job.
type Job struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	ElapsedS float64 `json:"elapsed_s"`
}

// Error is one recent error from the events log.
type Error struct {
	At      string `json:"at"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// Read reads the ledger's view of the daemon, runs and uploads. The daemon
// is up when it has not marked itself down and its heartbeat is fresh.
func Read(ctx context.Context, db *ledger.DB, now time.Time) (*Status, error) {
	st := &Status{Runs: map[string]int{}, LastErrors: []Error{}, At: now}
	st.Daemon.Watch = []string{}
	d, err := db.DaemonState(ctx)
	if err != nil {
		return nil, err
	}
	if d != nil {
		st.Daemon.Up = daemon.Up(d, now)
		if st.Daemon.Up {
			up := max(now.Sub(d.StartedAt), 0).Round(time.Second).Seconds()
			st.Daemon.UptimeS = &up
		}
		st.Daemon.PID, st.Daemon.Host, st.Daemon.Version = &d.PID, &d.Host, &d.Version
		st.Daemon.StartedAt = api.TimePtr(&d.StartedAt)
		st.Daemon.HeartbeatAt = api.TimePtr(&d.HeartbeatAt)
		st.Daemon.StoppedAt = api.TimePtr(d.StoppedAt)
		if d.Watch != nil {
			st.Daemon.Watch = d.Watch
		}
	}
	counts, err := db.Counts(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range ledger.AllStates {
		st.Runs[string(s)] = counts[s]
	}
	oldest, err := db.OldestPending(ctx)
	if err != nil {
		return nil, err
	}
	if oldest != nil {
		age := now.Sub(*oldest).Seconds()
		st.OldestPendingAgeS = &age
	}
	pauses, err := db.Pauses(ctx)
	if err != nil {
		return nil, err
	}
	st.Pauses = []Pause{}
	for _, p := range pauses {
		// A daemon from before scopes recorded none, and without any daemon
		// (backfill from cron only) there is no configuration to compare:
		// then every pause counts.
		holds := d == nil || p.Scope == ledger.ScopeAll || len(d.UploadScopes) == 0 || slices.Contains(d.UploadScopes, p.Scope)
		st.Pauses = append(st.Pauses, Pause{Scope: p.Scope, Config: p.Config, Reason: p.Reason, By: p.By,
			Since: api.Time(p.Since), HoldsDaemon: holds})
		if holds && !st.Uploads.Paused {
			st.Uploads.Paused = true
			st.Uploads.Reason = &p.Reason
			st.Uploads.PausedSince = api.TimePtr(&p.Since)
		}
	}
	switch {
	case !st.Daemon.Up:
		st.Uploads.State = "not running (daemon down)"
	case d.UploadsOff:
		st.Uploads.State = "off (--no-upload)"
	case st.Uploads.Paused:
		st.Uploads.State = "paused"
	case d.UploadProblem != "":
		// The daemon's start check: uploads cannot work as configured.
		st.Uploads.State = "failing: " + d.UploadProblem
	default:
		st.Uploads.State = "running"
	}
	if st.Uploads.Last24h.Synced, st.Uploads.Last24h.Failed, err = db.UploadsSince(ctx, now.Add(-24*time.Hour)); err != nil {
		return nil, err
	}
	if st.Waiting, err = waiting(ctx, db, now); err != nil {
		return nil, err
	}
	st.RunningJobs = []Job{}
	running, err := db.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}})
	if err != nil {
		return nil, err
	}
	for _, j := range running {
		sj := Job{ID: j.ID, Name: j.Name}
		if j.StartedAt != nil {
			sj.ElapsedS = now.Sub(*j.StartedAt).Round(time.Second).Seconds()
		}
		st.RunningJobs = append(st.RunningJobs, sj)
	}
	if st.Regressions, err = db.CountRegressions(ctx); err != nil {
		return nil, err
	}
	if st.Jobs, st.GPUs, err = jobCounts(ctx, db); err != nil {
		return nil, err
	}
	if st.QueueBlock, err = jobs.QueueBlock(ctx, db, now); err != nil {
		return nil, err
	}
	if st.JobLimits, err = jobs.ConfiguredLimits(ctx, db); err != nil {
		return nil, err
	}
	errs, err := db.LastErrors(ctx, 5)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		st.LastErrors = append(st.LastErrors, Error{At: api.Time(e.At), Subject: e.Subject, Message: e.Message})
	}
	return st, nil
}

// waiting groups the runs that are not uploaded yet by what they wait for.
// The quiet and settle periods are the defaults (the daemon's flags may
// differ; the readiness rule is docs/design.md "Readiness").
func waiting(ctx context.Context, db *ledger.DB, now time.Time) ([]Waiting, error) {
	out := []Waiting{}
	active, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
	if err != nil {
		return nil, err
	}
	type bucket struct {
		n      int
		within time.Duration
		timed  bool
	}
	var exit, settle, job bucket
	for _, r := range active {
		switch {
		case r.JobID != nil && !r.Footer && !r.Finished:
			job.n++
		case r.Finished || r.Footer:
			exit.n++
			exit.timed = true
			exit.within = max(exit.within, r.MTime.Add(runsync.DefaultQuiet).Sub(now))
		default:
			settle.n++
			settle.timed = true
			settle.within = max(settle.within, r.MTime.Add(runsync.DefaultSettle).Sub(now))
		}
	}
	add := func(state string, b bucket, reason string) {
		if b.n == 0 {
			return
		}
		w := Waiting{State: state, Count: b.n, Reason: reason}
		if b.timed {
			s := max(b.within, 0).Round(time.Second).Seconds()
			w.ReadyWithinS = &s
		}
		out = append(out, w)
	}
	add("active", exit, "exit record seen; ready after the quiet period (--quiet)")
	add("active", settle, "no exit record; ready once not growing for --settle and not held open")
	add("active", job, "written by a runner job that has not ended")
	pending, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StatePending})
	if err != nil {
		return nil, err
	}
	var due, backoff bucket
	for _, r := range pending {
		if r.NextAttemptAt == nil || !r.NextAttemptAt.After(now) {
			due.n++
			continue
		}
		backoff.n++
		backoff.timed = true
		backoff.within = max(backoff.within, r.NextAttemptAt.Sub(now))
	}
	add("pending", due, "ready: waiting for an upload worker (or the daemon)")
	add("pending", backoff, "a failed upload backs off before the next try")
	return out, nil
}

// GPUs is the "gpus" section of `runner status --json`.
type GPUs struct {
	Inventory string           `json:"inventory"`
	Reason    *string          `json:"reason"`
	SampledAt string           `json:"sampled_at"`
	GPUs      []jobs.GPUStatus `json:"gpus"`
}

// jobCounts reads job counts (every state present) and the daemon's last
// GPU sample for `runner status`.
func jobCounts(ctx context.Context, db *ledger.DB) (map[string]int, *GPUs, error) {
	counts, err := db.JobCounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]int, len(counts))
	for s, n := range counts {
		out[string(s)] = n
	}
	snap, at, ok, err := StoredGPUs(ctx, db)
	if err != nil || !ok {
		return out, nil, err
	}
	if err := SetHolders(ctx, db, &snap); err != nil {
		return nil, nil, err
	}
	return out, &GPUs{Inventory: snap.Inventory, Reason: snap.Reason, SampledAt: api.Time(at), GPUs: snap.GPUs}, nil
}

// SetHolders marks each GPU with the running job that holds it, from the
// ledger as it is now: a sample may be seconds older than the last job start.
func SetHolders(ctx context.Context, db *ledger.DB, snap *jobs.Snapshot) error {
	running, err := db.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}})
	if err != nil {
		return err
	}
	held := map[string]int64{}
	for _, j := range running {
		for _, u := range j.GPUUUIDs {
			held[u] = j.ID
		}
	}
	for i := range snap.GPUs {
		snap.GPUs[i].HeldBy = nil
		if id, ok := held[snap.GPUs[i].UUID]; ok {
			snap.GPUs[i].HeldBy = &id
		}
	}
	return nil
}
