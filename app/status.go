package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/ledger"
)

func statusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "daemon, runs and uploads at a glance (exit 1 when the daemon is down or uploads are paused)",
		Flags: []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				st, err := GetStatus(c.Context, db, env.Now())
				if err != nil {
					return fmt.Errorf("status: %w", err)
				}
				if c.Bool("json") {
					if err := writeJSON(env.Stdout, st); err != nil {
						return err
					}
				} else {
					// Colour only for a person at a terminal, never in pipes or cron mail.
					st.print(env.Stdout, env.IsTerminal != nil && env.IsTerminal(env.Stdout))
				}
				if !st.Daemon.Up || st.Uploads.Paused {
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
		Paused      bool    `json:"paused"`
		Reason      *string `json:"reason"`
		PausedSince *string `json:"paused_since"`
	} `json:"uploads"`
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

// StatusError is one recent error from the events log.
type StatusError struct {
	At      string `json:"at"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// GetStatus reads the ledger's view of the daemon, runs and uploads. The daemon
// is up when it has not marked itself down and its heartbeat is fresh.
func GetStatus(ctx context.Context, db *ledger.DB, now time.Time) (*Status, error) {
	st := &Status{Runs: map[string]int{}, LastErrors: []StatusError{}}
	st.Daemon.Watch = []string{}
	d, err := db.DaemonState(ctx)
	if err != nil {
		return nil, err
	}
	if d != nil {
		st.Daemon.Up = d.Up && now.Sub(d.HeartbeatAt) < 3*daemon.HeartbeatInterval
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

func (st *Status) print(w io.Writer, colour bool) {
	green, red := paint(colour, "32"), paint(colour, "1;31")
	if st.Daemon.Up {
		uptime := ""
		if st.Daemon.UptimeS != nil {
			uptime = " " + time.Duration(*st.Daemon.UptimeS*float64(time.Second)).String()
		}
		fmt.Fprintf(w, "daemon:   %s (pid %d on %s, version %s, since %s)\n", green("up"+uptime), *st.Daemon.PID, *st.Daemon.Host, *st.Daemon.Version, *st.Daemon.StartedAt)
		fmt.Fprintf(w, "watching: %s\n", strings.Join(st.Daemon.Watch, ", "))
	} else if st.Daemon.HeartbeatAt != nil {
		fmt.Fprintf(w, "daemon:   %s (last heartbeat %s)\n", red("DOWN"), *st.Daemon.HeartbeatAt)
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
	if st.Uploads.Paused {
		fmt.Fprintf(w, "uploads:  %s since %s: %s\n", red("PAUSED"), *st.Uploads.PausedSince, *st.Uploads.Reason)
	} else {
		fmt.Fprintf(w, "uploads:  running\n")
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
	if len(st.LastErrors) > 0 {
		fmt.Fprintln(w, "last errors:")
		for _, e := range st.LastErrors {
			fmt.Fprintf(w, "  %s  %s: %s\n", e.At, e.Subject, e.Message)
		}
	}
}

// paint returns a function that wraps text in the ANSI SGR code when on.
func paint(on bool, code string) func(string) string {
	return func(s string) string {
		if !on {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
}
