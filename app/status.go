package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

func statusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "daemon, runs and uploads at a glance (exit 1 when the daemon is down or its uploads are paused or cannot work)",
		Flags: []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				st, err := GetStatus(c.Context, db, env.Now())
				if err != nil {
					return fmt.Errorf("status: %w", err)
				}
				// Colour only for a person at a terminal, never in pipes or cron mail.
				if err := show(c, env, st, func() { st.print(env.Stdout, env.palette(env.Stdout)) }); err != nil {
					return err
				}
				if !st.Daemon.Up || st.Uploads.Paused || strings.HasPrefix(st.Uploads.State, "failing") {
					return ErrFailed
				}
				return nil
			})
		},
	}
}

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
	Waiting []StatusWaiting `json:"waiting"`
	// RunningJobs are the jobs running now, with their elapsed time.
	RunningJobs []StatusJob `json:"running_jobs"`

	now time.Time // when it was read: ages in the human form are relative to it
	// Pauses lists every paused configuration, the daemon's or not.
	Pauses     []StatusPause `json:"pauses"`
	LastErrors []StatusError `json:"last_errors"`
	// Regressions is how many regressions the daemon has flagged (runner regressions lists them).
	Regressions int `json:"regressions"`
	// Jobs counts jobs by state; GPUs is the daemon's last GPU sample (null if none).
	Jobs map[string]int `json:"jobs"`
	GPUs *StatusGPUs    `json:"gpus"`
}

// StatusPause is one paused upload configuration.
type StatusPause struct {
	Scope       string `json:"scope"`
	Config      string `json:"config"`
	Reason      string `json:"reason"`
	By          string `json:"by"`
	Since       string `json:"since"`
	HoldsDaemon bool   `json:"holds_daemon"`
}

// StatusWaiting is a group of runs that wait for the same thing.
type StatusWaiting struct {
	State  string `json:"state"`
	Count  int    `json:"count"`
	Reason string `json:"reason"`
	// ReadyWithinS: all of them are due within this many seconds (null: not by time).
	ReadyWithinS *float64 `json:"ready_within_s"`
}

// StatusJob is a running job.
type StatusJob struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	ElapsedS float64 `json:"elapsed_s"`
}

// StatusError is one recent error from the events log.
type StatusError struct {
	At      string `json:"at"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// GetStatus reads the ledger's view of the daemon, runs and uploads. The daemon
// is up when it has not marked itself down and its heartbeat is fresh.
func GetStatus(ctx context.Context, db *ledger.DB, now time.Time) (*Status, error) {
	st := &Status{Runs: map[string]int{}, LastErrors: []StatusError{}, now: now}
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
		st.Daemon.StartedAt = timePtr(&d.StartedAt)
		st.Daemon.HeartbeatAt = timePtr(&d.HeartbeatAt)
		st.Daemon.StoppedAt = timePtr(d.StoppedAt)
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
	st.Pauses = []StatusPause{}
	for _, p := range pauses {
		// A daemon from before scopes recorded none, and without any daemon
		// (backfill from cron only) there is no configuration to compare:
		// then every pause counts.
		holds := d == nil || p.Scope == ledger.ScopeAll || len(d.UploadScopes) == 0 || slices.Contains(d.UploadScopes, p.Scope)
		st.Pauses = append(st.Pauses, StatusPause{Scope: p.Scope, Config: p.Config, Reason: p.Reason, By: p.By,
			Since: rfc3339(p.Since), HoldsDaemon: holds})
		if holds && !st.Uploads.Paused {
			st.Uploads.Paused = true
			st.Uploads.Reason = &p.Reason
			st.Uploads.PausedSince = timePtr(&p.Since)
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
	st.RunningJobs = []StatusJob{}
	running, err := db.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}})
	if err != nil {
		return nil, err
	}
	for _, j := range running {
		sj := StatusJob{ID: j.ID, Name: j.Name}
		if j.StartedAt != nil {
			sj.ElapsedS = now.Sub(*j.StartedAt).Round(time.Second).Seconds()
		}
		st.RunningJobs = append(st.RunningJobs, sj)
	}
	if st.Regressions, err = db.CountRegressions(ctx); err != nil {
		return nil, err
	}
	if st.Jobs, st.GPUs, err = jobStatus(ctx, db); err != nil {
		return nil, err
	}
	errs, err := db.LastErrors(ctx, 5)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		st.LastErrors = append(st.LastErrors, StatusError{At: rfc3339(e.At), Subject: e.Subject, Message: e.Message})
	}
	return st, nil
}

func (st *Status) print(w io.Writer, p palette) {
	green, red := p.green, p.red
	if st.Daemon.Up {
		uptime := ""
		if st.Daemon.UptimeS != nil {
			uptime = " " + time.Duration(*st.Daemon.UptimeS*float64(time.Second)).String()
		}
		fmt.Fprintf(w, "daemon:   %s (pid %d on %s, version %s, started %s)\n", green("up"+uptime), *st.Daemon.PID, *st.Daemon.Host, *st.Daemon.Version, ago(st.now, *st.Daemon.StartedAt))
		fmt.Fprintf(w, "watching: %s\n", strings.Join(st.Daemon.Watch, ", "))
	} else if st.Daemon.HeartbeatAt != nil {
		fmt.Fprintf(w, "daemon:   %s (last heartbeat %s)\n", red("DOWN"), ago(st.now, *st.Daemon.HeartbeatAt))
	} else {
		fmt.Fprintf(w, "daemon:   %s (never started with this ledger)\n", red("DOWN"))
	}
	var parts []string
	for _, s := range ledger.AllStates {
		if n := st.Runs[string(s)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	fmt.Fprintf(w, "runs:     %s\n", strings.Join(parts, ", "))
	if st.OldestPendingAgeS != nil {
		fmt.Fprintf(w, "oldest pending: %s\n", time.Duration(*st.OldestPendingAgeS*float64(time.Second)).Round(time.Second))
	}
	day := fmt.Sprintf("%d synced, %d failed in the last 24h", st.Uploads.Last24h.Synced, st.Uploads.Last24h.Failed)
	switch {
	case st.Uploads.Paused:
		fmt.Fprintf(w, "uploads:  %s since %s: %s (%s)\n", red("PAUSED"), ago(st.now, *st.Uploads.PausedSince), *st.Uploads.Reason, day)
	case st.Uploads.State == "running":
		fmt.Fprintf(w, "uploads:  %s (%s)\n", green("running"), day)
	default:
		fmt.Fprintf(w, "uploads:  %s (%s)\n", st.Uploads.State, day)
	}
	for _, wt := range st.Waiting {
		within := ""
		if wt.ReadyWithinS != nil {
			within = " within " + roughly(time.Duration(*wt.ReadyWithinS)*time.Second)
		}
		fmt.Fprintf(w, "waiting:  %d %s%s: %s\n", wt.Count, wt.State, within, wt.Reason)
	}
	for _, p := range st.Pauses {
		whose := "not the daemon's configuration"
		if p.HoldsDaemon {
			whose = "holds the daemon"
		}
		fmt.Fprintf(w, "  paused: %s (%s; %s) since %s by %s: %s\n", p.Config, p.Scope, whose, p.Since, p.By, p.Reason)
		fmt.Fprintf(w, "          resume: fix it, then run `runner sync` with that configuration (or restart the daemon)\n")
	}
	if st.Regressions > 0 {
		fmt.Fprintf(w, "regressions: %d flagged (see runner regressions)\n", st.Regressions)
	}
	printJobStatus(w, st.Jobs, st.GPUs)
	for _, j := range st.RunningJobs {
		fmt.Fprintf(w, "running:  job %d %s for %s\n", j.ID, dash(j.Name), roughly(time.Duration(j.ElapsedS)*time.Second))
	}
	if len(st.LastErrors) > 0 {
		fmt.Fprintln(w, "last errors (runs not synced yet):")
		for _, e := range st.LastErrors {
			fmt.Fprintf(w, "  %s  %s: %s\n", ago(st.now, e.At), e.Subject, e.Message)
		}
	}
}

// waiting groups the runs that are not uploaded yet by what they wait for.
// The quiet and settle periods are the defaults (the daemon's flags may
// differ; the readiness rule is docs/design.md "Readiness").
func waiting(ctx context.Context, db *ledger.DB, now time.Time) ([]StatusWaiting, error) {
	out := []StatusWaiting{}
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
		w := StatusWaiting{State: state, Count: b.n, Reason: reason}
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

// ago is a time for people, relative to now ("3 minutes ago"): the style of
// every time in human output; JSON has RFC 3339.
func ago(now time.Time, rfc string) string {
	t, err := time.Parse(time.RFC3339, rfc)
	if err != nil {
		return rfc
	}
	return humanize.RelTime(t, now, "ago", "from now")
}

// roughly rounds a duration to what a person reads: 45s, 7m, 3h, 2d.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
