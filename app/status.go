package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

func statusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "daemon, runs and uploads at a glance (exit 1 when the daemon is down or its uploads are paused or cannot work)",
		Flags: []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				st, err := status.Read(c.Context, db, env.Now())
				if err != nil {
					return fmt.Errorf("status: %w", err)
				}
				// Colour only for a person at a terminal, never in pipes or cron mail.
				if err := show(c, env, st, func() { printStatus(env.Stdout, st, env.palette(env.Stdout)) }); err != nil {
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

func printStatus(w io.Writer, st *status.Status, p palette) {
	green, red := p.green, p.red
	if st.Daemon.Up {
		uptime := ""
		if st.Daemon.UptimeS != nil {
			uptime = " " + time.Duration(*st.Daemon.UptimeS*float64(time.Second)).String()
		}
		fmt.Fprintf(w, "daemon:   %s (pid %d on %s, version %s, started %s)\n", green("up"+uptime), *st.Daemon.PID, *st.Daemon.Host, *st.Daemon.Version, ago(st.At, *st.Daemon.StartedAt))
		fmt.Fprintf(w, "watching: %s\n", strings.Join(st.Daemon.Watch, ", "))
	} else if st.Daemon.HeartbeatAt != nil {
		fmt.Fprintf(w, "daemon:   %s (last heartbeat %s)\n", red("DOWN"), ago(st.At, *st.Daemon.HeartbeatAt))
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
		fmt.Fprintf(w, "uploads:  %s since %s: %s (%s)\n", red("PAUSED"), ago(st.At, *st.Uploads.PausedSince), *st.Uploads.Reason, day)
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
		whose := ""
		if !p.HoldsDaemon {
			whose = "; not the daemon's configuration"
		}
		fmt.Fprintf(w, "  paused: %s: %s (since %s, by %s%s)\n", p.Config, p.Reason, ago(st.At, p.Since), runsync.DescribeOwner(p.By), whose)
		fmt.Fprintf(w, "          resume: fix it, then run `runner sync` with that configuration (or restart the daemon)\n")
	}
	if st.Regressions > 0 {
		fmt.Fprintf(w, "regressions: %d flagged (see runner regressions)\n", st.Regressions)
	}
	printJobStatus(w, st.Jobs, st.QueueBlock, st.GPUs)
	for _, j := range st.RunningJobs {
		fmt.Fprintf(w, "running:  job %d %s for %s\n", j.ID, dash(j.Name), roughly(time.Duration(j.ElapsedS)*time.Second))
	}
	if len(st.LastErrors) > 0 {
		fmt.Fprintln(w, "last errors (runs not synced yet):")
		for _, e := range st.LastErrors {
			fmt.Fprintf(w, "  %s  %s: %s\n", ago(st.At, e.At), e.Subject, e.Message)
		}
	}
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
