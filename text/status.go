package text

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

// Status is `runner status`: the daemon, runs, uploads and jobs at a glance.
func Status(w io.Writer, st *status.Status, p Palette) {
	green, red := p.Green, p.Red
	if st.Daemon.Up {
		uptime := ""
		if st.Daemon.UptimeS != nil {
			uptime = " " + time.Duration(*st.Daemon.UptimeS*float64(time.Second)).String()
		}
		fmt.Fprintf(w, "daemon:   %s (pid %d on %s, version %s, started %s)\n", green("up"+uptime), *st.Daemon.PID, *st.Daemon.Host, *st.Daemon.Version, Ago(st.At, *st.Daemon.StartedAt))
		fmt.Fprintf(w, "watching: %s\n", strings.Join(st.Daemon.Watch, ", "))
	} else if st.Daemon.HeartbeatAt != nil {
		fmt.Fprintf(w, "daemon:   %s (last heartbeat %s)\n", red("DOWN"), Ago(st.At, *st.Daemon.HeartbeatAt))
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
		fmt.Fprintf(w, "uploads:  %s since %s: %s (%s)\n", red("PAUSED"), Ago(st.At, *st.Uploads.PausedSince), *st.Uploads.Reason, day)
	case st.Uploads.State == "running":
		fmt.Fprintf(w, "uploads:  %s (%s)\n", green("running"), day)
	default:
		fmt.Fprintf(w, "uploads:  %s (%s)\n", st.Uploads.State, day)
	}
	for _, wt := range st.Waiting {
		within := ""
		if wt.ReadyWithinS != nil {
			within = " within " + Rough(time.Duration(*wt.ReadyWithinS)*time.Second)
		}
		fmt.Fprintf(w, "waiting:  %d %s%s: %s\n", wt.Count, wt.State, within, wt.Reason)
	}
	for _, p := range st.Pauses {
		whose := ""
		if !p.HoldsDaemon {
			whose = "; not the daemon's configuration"
		}
		fmt.Fprintf(w, "  paused: %s: %s (since %s, by %s%s)\n", p.Config, p.Reason, Ago(st.At, p.Since), runsync.DescribeOwner(p.By), whose)
		fmt.Fprintf(w, "          resume: fix it, then run `runner sync` with that configuration (or restart the daemon)\n")
	}
	if st.Regressions > 0 {
		fmt.Fprintf(w, "regressions: %d flagged (see runner regressions)\n", st.Regressions)
	}
	jobStatus(w, st.Jobs, st.QueueBlock, st.GPUs)
	if len(st.JobLimits) > 0 {
		var set []string
		for _, k := range []string{jobs.SettingCPUSlots, jobs.SettingGPUs} {
			if v, ok := st.JobLimits[k]; ok {
				set = append(set, k+" "+v)
			}
		}
		fmt.Fprintf(w, "limits:   %s (runner config; wins over the daemon's flags)\n", strings.Join(set, ", "))
	}
	for _, j := range st.RunningJobs {
		fmt.Fprintf(w, "running:  job %d %s for %s\n", j.ID, dash(j.Name), Rough(time.Duration(j.ElapsedS)*time.Second))
	}
	if len(st.LastErrors) > 0 {
		fmt.Fprintln(w, "last errors (runs not synced yet):")
		for _, e := range st.LastErrors {
			fmt.Fprintf(w, "  %s  %s: %s\n", Ago(st.At, e.At), e.Subject, e.Message)
		}
	}
}

// jobStatus is the jobs and GPUs part of Status.
func jobStatus(w io.Writer, counts map[string]int, block string, g *status.GPUs) {
	var parts []string
	for _, s := range ledger.AllJobStates {
		if n := counts[string(s)]; n > 0 {
			part := fmt.Sprintf("%d %s", n, s)
			if s == ledger.JobQueued && block != "" {
				part += " (" + block + ")"
			}
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	fmt.Fprintf(w, "jobs:     %s\n", strings.Join(parts, ", "))
	switch {
	case g == nil:
		fmt.Fprintf(w, "gpus:     unknown (no daemon has sampled them)\n")
	case len(g.GPUs) == 0:
		reason := "none"
		if g.Reason != nil {
			reason = *g.Reason
		}
		fmt.Fprintf(w, "gpus:     none (%s)\n", reason)
	default:
		fmt.Fprintf(w, "gpus:     %d (%s, sampled %s)\n", len(g.GPUs), g.Inventory, g.SampledAt)
		for _, d := range g.GPUs {
			held := "free"
			if d.HeldBy != nil {
				held = fmt.Sprintf("job %d", *d.HeldBy)
			} else if len(d.Processes) > 0 {
				held = fmt.Sprintf("%d foreign process(es)", len(d.Processes))
			}
			fmt.Fprintf(w, "  %d %s  %s / %s  %s\n", d.Index, d.Name, units.FormatSize(d.MemoryUsed), units.FormatSize(d.MemoryTotal), held)
		}
	}
}
