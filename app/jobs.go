package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

func jobsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "jobs",
		Usage: "list queued, running and finished jobs",
		Flags: []cli.Flag{
			stringFlag("state", "only jobs in this state (queued, running, succeeded, failed, cancelled, skipped, lost)", ""),
			listFlag("label", "only jobs with this label K=V (repeatable: all of them)"),
			intFlag("array", "only the jobs of this array (its id)", 0),
			boolFlag("json", "print a JSON array"),
		},
		Action: func(c *cli.Context) error {
			var f ledger.JobFilter
			for _, kv := range c.StringSlice("label") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("jobs: --label %q: want KEY=VALUE", kv)
				}
				if f.Labels == nil {
					f.Labels = map[string]string{}
				}
				f.Labels[k] = v
			}
			if a := c.Int("array"); a != 0 {
				f.ArrayIDs = []int64{int64(a)}
			}
			if s := ledger.JobState(c.String("state")); s != "" {
				if !slices.Contains(ledger.AllJobStates, s) {
					return usagef("jobs: invalid --state %q: want one of %v", s, ledger.AllJobStates)
				}
				f.States = []ledger.JobState{s}
			}
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := db.ListJobs(c.Context, f)
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			if c.Bool("json") {
				out := make([]JobJSON, 0, len(list))
				for _, j := range list {
					out = append(out, jobJSON(j))
				}
				return writeJSON(env.Stdout, out)
			}
			index, err := gpuIndexes(c.Context, db)
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			printJobs(env.Stdout, list, index, env.Now(), env.width(env.Stdout), env.palette(env.Stdout))
			return nil
		},
	}
}

func openReadOnly(c *cli.Context, env Env) (*ledger.DB, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return nil, err
	}
	return openDB(c.Context, c, env, logger, true)
}

// JobJSON is one element of `runner jobs --json` (documented in the README).
type JobJSON struct {
	ID            int64             `json:"id"`
	Name          *string           `json:"name"`
	Owner         string            `json:"owner"`
	OwnerUID      int               `json:"owner_uid"`
	Command       []string          `json:"command"`
	Cwd           string            `json:"cwd"`
	EnvNames      []string          `json:"env_names"` // captured and --env names, sorted; null: the daemon's environment (jobs from before capture)
	Held          bool              `json:"held"`
	AfterAny      []int64           `json:"after_any"`
	Labels        map[string]string `json:"labels"`
	ArrayID       *int64            `json:"array_id"`
	ArrayIndex    *int64            `json:"array_index"`
	RunGroup      *string           `json:"run_group"`
	Share         bool              `json:"share"`
	CPUs          int               `json:"cpus"`
	State         string            `json:"state"`
	Reason        *string           `json:"reason"`
	GPUs          []string          `json:"gpus"` // UUIDs given to the job
	GPUsRequested int               `json:"gpus_requested"`
	GPUMemBytes   *uint64           `json:"gpu_mem_bytes"`
	MemMaxBytes   *uint64           `json:"mem_max_bytes"` // submit --mem
	Priority      int               `json:"priority"`
	After         []int64           `json:"after"`
	RunID         string            `json:"run_id"`
	SubmittedAt   string            `json:"submitted_at"`
	StartedAt     *string           `json:"started_at"`
	EndedAt       *string           `json:"ended_at"`
	ExitCode      *int              `json:"exit_code"`
	Signal        *string           `json:"signal"`
	Attempts      int               `json:"attempts"`
	Retries       int               `json:"retries"`
	TimeoutS      *float64          `json:"timeout_s"`
	PeakMemBytes  *uint64           `json:"peak_mem_bytes"`
	MeanUtil      *float64          `json:"mean_util"`
	EnergyJ       *float64          `json:"energy_j"`
	LogPath       *string           `json:"log_path"`
	Executor      string            `json:"executor"`  // local or slurm
	EngineID      *string           `json:"engine_id"` // the Slurm job id (123, or 123_4 in an array); null for local jobs
	Node          *string           `json:"node"`      // the node Slurm ran it on
}

func jobJSON(j ledger.Job) JobJSON {
	out := JobJSON{
		ID: j.ID, Name: strPtr(j.Name), Owner: j.Owner, OwnerUID: j.OwnerUID, Command: j.Argv, Cwd: j.Cwd, State: string(j.State), Reason: strPtr(j.Reason),
		GPUs: j.GPUUUIDs, GPUsRequested: j.GPUs, Priority: j.Priority, After: j.After, RunID: j.RunID,
		SubmittedAt: rfc3339(j.SubmittedAt), StartedAt: timePtr(j.StartedAt), EndedAt: timePtr(j.EndedAt),
		ExitCode: j.ExitCode, Signal: strPtr(j.Signal), Attempts: j.Attempts, Retries: j.Retries,
		PeakMemBytes: j.PeakMem, MeanUtil: j.MeanUtil, EnergyJ: j.EnergyJ, LogPath: strPtr(j.LogPath),
		Executor: string(j.Executor), EngineID: strPtr(j.EngineID), Node: strPtr(j.Node),
	}
	if out.GPUs == nil {
		out.GPUs = []string{}
	}
	if out.After == nil {
		out.After = []int64{}
	}
	if out.Command == nil {
		out.Command = []string{}
	}
	out.Held, out.AfterAny, out.Labels, out.RunGroup, out.Share = j.Held, j.AfterAny, j.Labels, strPtr(j.RunGroup), j.Share
	out.CPUs = jobs.SlotsOf(j.CPUs, j.GPUs)
	if out.AfterAny == nil {
		out.AfterAny = []int64{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if j.ArrayID != 0 {
		out.ArrayID, out.ArrayIndex = &j.ArrayID, &j.ArrayIndex
	}
	// A Slurm job took the captured environment at submit, without a file.
	if j.EnvFile != "" || j.Executor != ledger.ExecutorLocal {
		out.EnvNames = slices.Clone(j.EnvNames)
		for _, kv := range j.Env {
			k, _, _ := strings.Cut(kv, "=")
			out.EnvNames = append(out.EnvNames, k)
		}
		slices.Sort(out.EnvNames)
		out.EnvNames = slices.Compact(out.EnvNames)
		if out.EnvNames == nil {
			out.EnvNames = []string{}
		}
	}
	if j.GPUMem > 0 {
		v := j.GPUMem
		out.GPUMemBytes = &v
	}
	if j.MemMax > 0 {
		v := j.MemMax
		out.MemMaxBytes = &v
	}
	if j.Timeout > 0 {
		v := j.Timeout.Seconds()
		out.TimeoutS = &v
	}
	return out
}

// printJobs is the at-a-glance table: GPUs by index (UUIDs stay in
// --json), how long a job has run (or waited), and its command last, so that
// on a terminal each line is cut to the width (width 0: not cut).
func printJobs(w io.Writer, list []ledger.Job, gpuIndex map[string]int, now time.Time, width int, p palette) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	// Jobs that Slurm runs show its job id and their node.
	slurm := slices.ContainsFunc(list, func(j ledger.Job) bool { return j.Executor == ledger.ExecutorSlurm })
	where := func(j ledger.Job) string {
		if !slurm {
			return ""
		}
		return dash(j.EngineID) + "\t" + dash(j.Node) + "\t"
	}
	if slurm {
		fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSTATE\tSLURM\tNODE\tGPUS\tELAPSED\tEXIT\tREASON\tCOMMAND")
	} else {
		fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSTATE\tGPUS\tELAPSED\tEXIT\tREASON\tCOMMAND")
	}
	paints := []func(string) string{nil} // the header
	for _, j := range list {
		exit := "-"
		switch {
		case j.ExitCode != nil:
			exit = strconv.Itoa(*j.ExitCode)
		case j.Signal != "":
			exit = j.Signal
		}
		reason := j.Reason
		if len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		name := j.Name
		if j.ArrayID != 0 {
			name = fmt.Sprintf("%s[%d]", cmp.Or(j.RunGroup, j.Name), j.ArrayIndex)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s%s\t%s\t%s\t%s\t%s\n", j.ID, dash(name), dash(j.Owner), j.State, where(j), jobGPUs(j, gpuIndex),
			elapsed(j, now), exit, dash(reason), dash(commandLine(j.Argv)))
		var paint func(string) string
		if j.State == ledger.JobFailed || j.State == ledger.JobLost {
			paint = p.red
		}
		paints = append(paints, paint)
	}
	tw.Flush()
	var cut strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if r := []rune(strings.TrimSuffix(line, "\n")); width > 0 && len(r) > width {
			line = string(r[:width-1]) + "…\n"
		}
		cut.WriteString(line)
	}
	io.WriteString(w, p.rows(cut.String(), paints))
}

// commandLine shows argv as a shell would take it back: words with spaces,
// quotes or shell characters in single quotes.
func commandLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>(){}*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// jobGPUs names a job's GPUs by index when the daemon's GPU view knows
// them, else by a shortened UUID; "(2)" is a request not yet placed.
func jobGPUs(j ledger.Job, index map[string]int) string {
	if len(j.GPUUUIDs) == 0 {
		if j.GPUs > 0 {
			return fmt.Sprintf("(%d)", j.GPUs)
		}
		return "-"
	}
	out := make([]string, len(j.GPUUUIDs))
	for i, u := range j.GPUUUIDs {
		if idx, ok := index[u]; ok {
			out[i] = strconv.Itoa(idx)
		} else if len(u) > 8 {
			out[i] = u[:8] + "…"
		} else {
			out[i] = u
		}
	}
	return strings.Join(out, ",")
}

// elapsed is how long a job ran, runs, or has been queued.
func elapsed(j ledger.Job, now time.Time) string {
	switch {
	case j.StartedAt != nil && j.EndedAt != nil:
		return roughly(j.EndedAt.Sub(*j.StartedAt))
	case j.StartedAt != nil:
		return roughly(now.Sub(*j.StartedAt))
	case j.EndedAt == nil:
		return "queued " + roughly(now.Sub(j.SubmittedAt))
	}
	return "-"
}

// gpuIndexes maps GPU UUIDs to indexes from the daemon's stored view; none
// when the daemon never stored one.
func gpuIndexes(ctx context.Context, db *ledger.DB) (map[string]int, error) {
	raw, _, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok {
		return nil, err
	}
	var snap jobs.Snapshot
	if err := json.Unmarshal([]byte(raw), &snap); err != nil {
		return nil, nil // an unreadable view: UUIDs are shown instead
	}
	m := make(map[string]int, len(snap.GPUs))
	for _, g := range snap.GPUs {
		m[g.UUID] = g.Index
	}
	return m, nil
}

func logsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a job's output (stdout and stderr)",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the job ends", EnvVars: []string{envName("follow")}},
			&cli.IntFlag{Name: "tail", Aliases: []string{"n"}, Usage: "start with the last N lines (0: all)"},
		},
		Action: func(c *cli.Context) error {
			ids, err := jobIDs(c) // one: ArgsUsage "ID" refuses more
			if err != nil {
				return err
			}
			id := ids[0]
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			if j, err := db.GetJob(c.Context, id); err == nil {
				if err := env.mayTouch(j, "read"); err != nil {
					return fmt.Errorf("logs: %w", err)
				}
			}
			if c.Int("tail") < 0 {
				return usagef("logs: --tail must not be negative")
			}
			return JobLogsTail(c.Context, env.Stdout, db, id, c.Bool("follow"), c.Int("tail"), 100*time.Millisecond)
		},
	}
}

// JobLogs copies job id's log to w; with follow it keeps copying until the
// job reaches a final state (waiting for a queued job to start).
func JobLogs(ctx context.Context, w io.Writer, db *ledger.DB, id int64, follow bool, every time.Duration) error {
	return JobLogsTail(ctx, w, db, id, follow, 0, every)
}

// JobLogsTail is JobLogs starting at the last tail lines (0: the start).
func JobLogsTail(ctx context.Context, w io.Writer, db *ledger.DB, id int64, follow bool, tail int, every time.Duration) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		j, err := db.GetJob(ctx, id)
		if err != nil {
			return fmt.Errorf("logs: %w", err)
		}
		if f == nil && j.LogPath != "" {
			f, err = os.Open(j.LogPath)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("logs: job %d: %w", id, err)
			}
			if f != nil && tail > 0 {
				if err := seekLastLines(f, tail); err != nil {
					return fmt.Errorf("logs: job %d: %w", id, err)
				}
			}
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return fmt.Errorf("logs: job %d: %w", id, err)
			}
		}
		ended := j.State.Ended()
		if !follow || ended {
			if f == nil && !follow {
				return fmt.Errorf("logs: job %d has no output yet (%s)", id, j.State)
			}
			if ended && f != nil {
				// The last lines may have landed after the copy above.
				if _, err := io.Copy(w, f); err != nil {
					return fmt.Errorf("logs: job %d: %w", id, err)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// seekLastLines moves f to the start of its last n lines (a last line
// without a newline counts), reading backwards in blocks.
func seekLastLines(f *os.File, n int) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	const block = 64 << 10
	end := st.Size()
	buf := make([]byte, block)
	newlines := 0
	for pos := end; pos > 0; {
		size := min(int64(block), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil {
			return err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue // a final newline ends the last line, it does not start one
			}
			if newlines++; newlines == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

func cancelCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel jobs: a queued one at once, a running one by stopping its process group",
		ArgsUsage: "ID... | --all | --name GLOB | --state STATE (an array's id stands for all its jobs)",
		Flags: []cli.Flag{
			boolFlag("all", "every queued and running job of yours (root: everyone's)"),
			stringFlag("name", "your queued and running jobs whose name matches this shell pattern", ""),
			stringFlag("state", "your jobs in this state: queued or running", ""),
		},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				list, err := cancelTargets(c, env, db)
				if err != nil {
					return err
				}
				for _, j := range list {
					if err := env.mayTouch(j, "cancel"); err != nil {
						return fmt.Errorf("cancel: %w", err)
					}
				}
				running, err := daemon.Running(db.Path())
				if err != nil {
					return fmt.Errorf("cancel: %w", err)
				}
				var failed error
				for _, j := range list {
					if err := cancelOne(c.Context, env, db, j, running); err != nil {
						fmt.Fprintf(env.Stderr, "runner: %v\n", err)
						failed = ErrFailed
					}
				}
				jobs.Poke(jobs.SockPath(db.Path()))
				return failed
			})
		},
	}
}

// cancelTargets are the jobs cancel acts on: the ids given (arrays
// expanded), or the caller's active jobs a selector picks.
func cancelTargets(c *cli.Context, env Env, db *ledger.DB) ([]ledger.Job, error) {
	selectors := 0
	for _, f := range []string{"all", "name", "state"} {
		if c.IsSet(f) {
			selectors++
		}
	}
	switch {
	case selectors > 0 && c.Args().Len() > 0:
		return nil, usagef("cancel: give job ids or --all/--name/--state, not both")
	case selectors == 0:
		ids, err := jobIDs(c)
		if err != nil {
			return nil, err
		}
		list, err := expandArrays(c.Context, db, ids)
		if err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
		return list, nil
	}
	f := ledger.JobFilter{States: []ledger.JobState{ledger.JobQueued, ledger.JobRunning}, NameGlob: c.String("name")}
	if st := ledger.JobState(c.String("state")); st != "" {
		if st != ledger.JobQueued && st != ledger.JobRunning {
			return nil, usagef("cancel: --state %q: only queued or running jobs can be cancelled", st)
		}
		f.States = []ledger.JobState{st}
	}
	all, err := db.ListJobs(c.Context, f)
	if err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	uid, _, _ := env.owner()
	var mine []ledger.Job
	for _, j := range all {
		if uid == 0 || j.OwnerUID == uid {
			mine = append(mine, j)
		}
	}
	if len(mine) == 0 {
		fmt.Fprintln(env.Stdout, "no job to cancel")
	}
	return mine, nil
}

// cancelOne cancels job j and says what happened to it. An engine's job is
// stopped there first (as the caller), then recorded.
func cancelOne(ctx context.Context, env Env, db *ledger.DB, j ledger.Job, daemonRunning bool) error {
	id := j.ID
	onEngine := j.Executor != ledger.ExecutorLocal && j.EngineID != "" && !j.State.Ended()
	if onEngine {
		if err := cancelOnEngine(ctx, env, j); err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
	}
	j, err := db.CancelJob(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	switch {
	case j.State == ledger.JobCancelled:
		fmt.Fprintf(env.Stdout, "job %d cancelled\n", id)
		return nil
	case onEngine:
		fmt.Fprintf(env.Stdout, "job %d: cancelled in %s (job %s); the daemon records its end\n", id, j.Executor, j.EngineID)
		return nil
	case daemonRunning:
		fmt.Fprintf(env.Stdout, "job %d: cancel requested; the daemon stops its processes (SIGTERM, then SIGKILL)\n", id)
		return nil
	}
	return cancelWithoutDaemon(env, j)
}

func cancelWithoutDaemon(env Env, j ledger.Job) error {
	if j.PID == 0 || !jobs.Alive(j.PID, j.StartTicks) {
		fmt.Fprintf(env.Stdout, "job %d: cancel recorded; its process is gone (the daemon is down and records the end when it is back)\n", j.ID)
		return nil
	}
	fmt.Fprintf(env.Stdout, "job %d: the daemon is down; stopping its processes (SIGTERM, then SIGKILL after %s)\n", j.ID, jobs.DefaultGrace)
	if err := jobs.Terminate(j.PGID, jobs.DefaultGrace); err != nil && !errors.Is(err, jobs.ErrNotRunning) {
		return fmt.Errorf("cancel job %d: %w", j.ID, err)
	}
	fmt.Fprintf(env.Stdout, "job %d stopped; the daemon records it cancelled when it is back\n", j.ID)
	return nil
}

func gpusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "gpus",
		Usage: "the GPUs with memory, utilisation, processes and the job holding each",
		Flags: []cli.Flag{
			boolFlag("json", "print a JSON array"),
			stringFlag("gpus", "ask this inventory now (auto, nvml, none, fake:N[:MEM]) instead of the daemon's last sample", ""),
		},
		Action: func(c *cli.Context) error {
			snap, at, err := gpuView(c, env)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(env.Stdout, snap.GPUs)
			}
			printGPUs(env.Stdout, snap, at, env.Now())
			return nil
		},
	}
}

// gpuView is the daemon's last GPU sample from the ledger, or a fresh look
// through the inventory --gpus names (auto when the daemon never sampled).
func gpuView(c *cli.Context, env Env) (jobs.Snapshot, *time.Time, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return jobs.Snapshot{}, nil, err
	}
	db, dbErr := openDB(c.Context, c, env, logger, true)
	if dbErr == nil {
		defer db.Close()
	}
	spec := c.String("gpus")
	if spec == "" && dbErr == nil {
		raw, at, ok, err := db.GPUSnapshot(c.Context)
		if err != nil {
			return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
		}
		if ok {
			var snap jobs.Snapshot
			if err := json.Unmarshal([]byte(raw), &snap); err != nil {
				return jobs.Snapshot{}, nil, fmt.Errorf("gpus: stored snapshot: %w", err)
			}
			if err := status.SetHolders(c.Context, db, &snap); err != nil {
				return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
			}
			return snap, &at, nil
		}
	}
	if spec == "" {
		spec = "auto"
	}
	inv, err := jobs.OpenInventory(spec, logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return jobs.Snapshot{}, nil, &UsageError{Err: err}
	}
	if err != nil {
		return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
	}
	defer inv.Close()
	devs, err := inv.Devices(c.Context)
	if err != nil {
		return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
	}
	snap := jobs.NewSnapshot(inv, devs, nil)
	if dbErr == nil {
		if err := status.SetHolders(c.Context, db, &snap); err != nil {
			return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
		}
	}
	return snap, nil, nil
}

func printGPUs(w io.Writer, snap jobs.Snapshot, at *time.Time, now time.Time) {
	when := "now"
	if at != nil {
		when = fmt.Sprintf("sampled by the daemon %s ago", now.Sub(*at).Round(time.Second))
	}
	if len(snap.GPUs) == 0 {
		reason := "no GPUs"
		if snap.Reason != nil {
			reason = *snap.Reason
		}
		fmt.Fprintf(w, "no GPUs (%s; %s)\n", reason, when)
		return
	}
	fmt.Fprintf(w, "%d GPUs (%s; %s)\n", len(snap.GPUs), snap.Inventory, when)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDX\tNAME\tMEMORY\tUTIL\tPROCESSES\tJOB\tUUID")
	for _, g := range snap.GPUs {
		util := "?"
		if g.Util != nil {
			util = fmt.Sprintf("%d%%", *g.Util)
		}
		var procs []string
		for _, p := range g.Processes {
			procs = append(procs, strconv.Itoa(p.PID))
		}
		job := "-"
		if g.HeldBy != nil {
			job = strconv.FormatInt(*g.HeldBy, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s / %s\t%s\t%s\t%s\t%s\n", g.Index, g.Name, units.FormatSize(g.MemoryUsed),
			units.FormatSize(g.MemoryTotal), util, dash(strings.Join(procs, ",")), job, g.UUID)
	}
	tw.Flush()
}

// superviseCommand is what a job's detached supervisor runs (jobs.Launch):
// the spec arrives on stdin so nothing of it shows in argv.
func superviseCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:   jobs.SuperviseCommand,
		Hidden: true,
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "job", Usage: "job id"},
			&cli.BoolFlag{Name: jobs.SpareFlag, Usage: "wait for a job's spec (a spare supervisor)"},
			&cli.StringFlag{Name: jobs.SpecFileFlag, Usage: "read the job's spec from this file and remove it (a systemd unit's supervisor)"},
		},
		Action: func(c *cli.Context) error {
			return jobs.RunSupervisor(c.Context, env.Stdin, c.Bool(jobs.SpareFlag), c.Int64("job"), c.String(jobs.SpecFileFlag))
		},
	}
}

// jobsDaemonFlags are the daemon's job scheduler flags.
func jobsDaemonFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag("gpus", "GPU inventory: auto (NVML when a driver is there), nvml, none, fake:N[:MEM]", "auto"),
		withDefault(stringFlag("jobs-wandb-dir", "WANDB_DIR of every job", ""), "the first --watch dir"),
		durationFlag("sample-interval", "sample the GPUs (job telemetry, runner gpus) and re-plan this often", jobs.DefaultSampleInterval),
		withDefault(intFlag("cpu-slots", "CPU slots for jobs (a CPU job takes 1 unless submit --cpus says otherwise)", 0), "the number of CPUs"),
		withDefault(stringFlag("socket-group", "group whose members may use the daemon's socket", ""), "runner, when that group exists"),
		stringFlag("job-units", "start each job as a transient systemd service: auto (when the daemon is a root systemd service), systemd, off", jobs.UnitsAuto),
		stringFlag("executor", "where runner submit sends a job without --executor: local (this host's GPUs) or slurm (sbatch)", string(ledger.ExecutorLocal)),
	}
}

// newScheduler builds the daemon's job scheduler on db and wires it to the
// sync engine: runs of a queued or running job are not complete, and a
// job's end makes its runs ready at once. close releases the inventory.
func newScheduler(c *cli.Context, env Env, db *ledger.DB, eng *runsync.Engine, roots []string, logger *slog.Logger) (s *jobs.Scheduler, closeInv func(), err error) {
	interval := durationOf(c, "sample-interval")
	if interval <= 0 {
		return nil, nil, usagef("daemon: invalid --sample-interval: want a positive duration")
	}
	inv, err := jobs.OpenInventory(c.String("gpus"), logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return nil, nil, &UsageError{Err: fmt.Errorf("daemon: %w", err)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: GPU inventory: %w", err)
	}
	wandbDir := c.String("jobs-wandb-dir")
	if wandbDir == "" {
		wandbDir = roots[0]
	}
	if wandbDir, err = filepath.Abs(wandbDir); err != nil {
		inv.Close()
		return nil, nil, fmt.Errorf("daemon: --jobs-wandb-dir: %w", err)
	}
	// Whoever may write the ledger may submit, so may poke.
	mode := os.FileMode(0o600)
	if st, err := os.Stat(db.Path()); err == nil {
		mode = st.Mode().Perm() & 0o660
	}
	if c.Int("cpu-slots") < 0 {
		inv.Close()
		return nil, nil, usagef("daemon: --cpu-slots must not be negative")
	}
	units, err := jobs.UnitsFor(c.String("job-units"), env.Getenv, os.Getuid(), exec.LookPath)
	if err != nil {
		inv.Close()
		if errors.Is(err, jobs.ErrBadUnitsMode) {
			return nil, nil, &UsageError{Err: fmt.Errorf("daemon: %w", err)}
		}
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	ctx := c.Context
	eng.JobActive = daemon.JobActive(db, logger)
	s = &jobs.Scheduler{
		Store: db, Inv: inv, Self: env.Self, StateDir: filepath.Dir(db.Path()), WandbDir: wandbDir,
		Logger: logger.With("component", "jobs"), Now: env.Now, SampleInterval: interval, SockMode: mode, Units: units,
		RunAsOwner: os.Geteuid() == 0, CPUSlots: c.Int("cpu-slots"),
		OnJobEnd: func(runID string) { daemon.JobRunsEnded(ctx, db, eng, wandbDir, runID, logger) },
	}
	return s, func() { inv.Close() }, nil
}

func printJobStatus(w io.Writer, counts map[string]int, g *status.GPUs) {
	var parts []string
	for _, s := range ledger.AllJobStates {
		if n := counts[string(s)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
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
