package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

func jobsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "jobs",
		Usage:     "list queued, held, running and recently ended jobs (--all: every job); with an ID, every field of one job",
		ArgsUsage: "[ID]",
		Flags: []cli.Flag{
			stringFlag("state", "only jobs in these states, a comma list (queued, running, succeeded, failed, cancelled, skipped, lost), however old", ""),
			boolFlag("all", "every job, also those that ended more than 24h ago"),
			stringFlag("name", "only jobs whose name matches this shell pattern (path.Match)", ""),
			listFlag("label", "only jobs with this label K=V (repeatable: all of them)"),
			intFlag("array", "only the jobs of this array (its id)", 0),
			stringFlag("format", "the columns, a comma list ("+jobColumns+")", ""),
			boolFlag("no-header", "leave out the header line"),
			boolFlag("json", "print a JSON array"),
		},
		Action: func(c *cli.Context) error {
			f := ledger.JobFilter{NameGlob: c.String("name")}
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
			if s := c.String("state"); s != "" {
				var err error
				if f.States, err = ledger.ParseJobStates(s); err != nil {
					return usagef("jobs: --state: %v", err)
				}
			}
			cols, err := parseJobColumns(c.String("format"))
			if err != nil {
				return err
			}
			var ids []int64
			if c.Args().Len() == 1 {
				if ids, err = jobIDs(c); err != nil {
					return err
				}
			}
			db, err := openReadOnly(c, env)
			if err != nil {
				return err
			}
			defer db.Close()
			if len(ids) == 1 {
				j, err := jobs.One(c.Context, db, ids[0], env.Now())
				if err != nil {
					return fmt.Errorf("jobs: %w", err)
				}
				return printJobFields(env.Stdout, api.JobOf(j))
			}
			view, err := jobs.List(c.Context, db, jobs.View{Filter: f, All: c.Bool("all"), Now: env.Now()})
			if errors.Is(err, ledger.ErrBadPattern) {
				return usagef("jobs: --name %v", err)
			}
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			list := view.Jobs
			if c.Bool("json") {
				out := make([]JobJSON, 0, len(list))
				for _, j := range list {
					out = append(out, api.JobOf(j))
				}
				return writeJSON(env.Stdout, out)
			}
			index, err := gpuIndexes(c.Context, db)
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			printJobs(env.Stdout, list, jobTable{cols: cols, header: !c.Bool("no-header"), gpuIndex: index, now: env.Now(),
				width: env.width(env.Stdout)}, env.palette(env.Stdout))
			switch {
			case view.Hidden == 1:
				fmt.Fprintln(env.Stderr, "1 older ended job not shown (--all)")
			case view.Hidden > 1:
				fmt.Fprintf(env.Stderr, "%d older ended jobs not shown (--all)\n", view.Hidden)
			}
			return nil
		},
	}
}

// printJobFields is `runner jobs ID`: every field of --json, one
// "key: value" line each, in --json's order (as scontrol show job).
func printJobFields(w io.Writer, j JobJSON) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		var text string
		switch {
		case string(v) == "null":
			text = "-"
		case v[0] == '"':
			json.Unmarshal(v, &text)
			text = safe.Text(text)
		case v[0] == '[':
			var items []any
			json.Unmarshal(v, &items)
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = safe.Text(fmt.Sprint(it))
			}
			text = dash(strings.Join(parts, " "))
		default:
			text = safe.Text(string(v))
		}
		fmt.Fprintf(tw, "%s:\t%s\n", key, text)
	}
	return tw.Flush()
}
func openReadOnly(c *cli.Context, env Env) (*ledger.DB, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return nil, err
	}
	return openDB(c.Context, c, env, logger, true)
}

// jobColumns are the names --format takes.
const jobColumns = "id,name,owner,state,slurm,node,gpus,elapsed,exit,reason,command,priority,submitted,started,ended,run_id,attempts,labels"

// parseJobColumns reads --format; "" is the default table (nil).
func parseJobColumns(format string) ([]string, error) {
	if format == "" {
		return nil, nil
	}
	valid := strings.Split(jobColumns, ",")
	var cols []string
	for _, w := range strings.Split(format, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if !slices.Contains(valid, w) {
			return nil, usagef("jobs: --format: unknown column %q: want a comma list of %s", w, jobColumns)
		}
		cols = append(cols, w)
	}
	return cols, nil
}

// jobTable is how printJobs lays out the table.
type jobTable struct {
	cols     []string // nil: the default columns
	header   bool
	gpuIndex map[string]int
	now      time.Time
	width    int // cut lines to it; 0: not cut
}

// printJobs is the at-a-glance table: GPUs by index (UUIDs stay in
// --json), how long a job has run (or waited), and its command last, so that
// on a terminal each line is cut to the width.
func printJobs(w io.Writer, list []ledger.Job, t jobTable, p palette) {
	cols := t.cols
	if cols == nil {
		cols = []string{"id", "name", "owner", "state", "gpus", "elapsed", "exit", "reason", "command"}
		// Jobs that Slurm runs show its job id and their node.
		if slices.ContainsFunc(list, func(j ledger.Job) bool { return j.Executor == ledger.ExecutorSlurm }) {
			cols = slices.Insert(cols, 4, "slurm", "node")
		}
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	var paints []func(string) string
	if t.header {
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		paints = append(paints, nil)
	}
	cells := make([]string, len(cols))
	for _, j := range list {
		for i, col := range cols {
			cells[i] = jobCell(col, j, t)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		var paint func(string) string
		if j.State == ledger.JobFailed || j.State == ledger.JobLost {
			paint = p.red
		}
		paints = append(paints, paint)
	}
	tw.Flush()
	var cut strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if r := []rune(strings.TrimSuffix(line, "\n")); t.width > 0 && len(r) > t.width {
			line = string(r[:t.width-1]) + "…\n"
		}
		cut.WriteString(line)
	}
	io.WriteString(w, p.rows(cut.String(), paints))
}

// jobCell is one column of job j's row.
func jobCell(col string, j ledger.Job, t jobTable) string {
	when := func(at *time.Time) string {
		if at == nil {
			return "-"
		}
		return at.Local().Format("2006-01-02 15:04")
	}
	switch col {
	case "id":
		return strconv.FormatInt(j.ID, 10)
	case "name":
		if j.ArrayID != 0 {
			return fmt.Sprintf("%s[%d]", cmp.Or(j.RunGroup, j.Name), j.ArrayIndex)
		}
		return dash(j.Name)
	case "owner":
		return dash(j.Owner)
	case "state":
		return string(j.State)
	case "slurm":
		return dash(j.EngineID)
	case "node":
		return dash(j.Node)
	case "gpus":
		return jobGPUs(j, t.gpuIndex)
	case "elapsed":
		return elapsed(j, t.now)
	case "exit":
		switch {
		case j.ExitCode != nil:
			return strconv.Itoa(*j.ExitCode)
		case j.Signal != "":
			return j.Signal
		}
		return "-"
	case "reason":
		reason := j.Reason
		if len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		return dash(reason)
	case "command":
		return dash(commandLine(j.Argv))
	case "priority":
		return strconv.Itoa(j.Priority)
	case "submitted":
		return when(&j.SubmittedAt)
	case "started":
		return when(j.StartedAt)
	case "ended":
		return when(j.EndedAt)
	case "run_id":
		return dash(j.RunID)
	case "attempts":
		return strconv.Itoa(j.Attempts)
	case "labels":
		var kv []string
		for k, v := range j.Labels {
			kv = append(kv, k+"="+v)
		}
		slices.Sort(kv)
		return dash(strings.Join(kv, ","))
	}
	return "?"
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
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the job ends, then say how it ended and exit with its code (as wait)", EnvVars: []string{envName("follow")}},
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
			j, err := jobs.Logs(c.Context, env.Stdout, db, id, jobs.LogsOptions{Follow: c.Bool("follow"), Tail: c.Int("tail"), Every: 100 * time.Millisecond})
			if err != nil || !c.Bool("follow") {
				return err
			}
			// Followed to its end: say how it ended, and exit as wait does.
			printEnds(env.Stderr, []ledger.Job{j})
			if st := waitExit([]ledger.Job{j}); st != nil {
				return st
			}
			return nil
		},
	}
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
				list, failed := answerEach(env, "cancel", list)
				for _, j := range list {
					err := jobs.Cancel(c.Context, db, j, running, func() (*jobs.User, error) { return engineUser(env) },
						func(line string) { fmt.Fprintln(env.Stdout, line) })
					if err != nil {
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
		list, err := jobs.ExpandArrays(c.Context, db, ids)
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

// gpuView is status.GPUView on the ledger --db names (when it opens) and
// the inventory --gpus names.
func gpuView(c *cli.Context, env Env) (jobs.Snapshot, *time.Time, error) {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return jobs.Snapshot{}, nil, err
	}
	db, dbErr := openDB(c.Context, c, env, logger, true)
	if dbErr == nil {
		defer db.Close()
	} else {
		db = nil // no ledger: a fresh look only
	}
	snap, at, err := status.GPUView(c.Context, db, c.String("gpus"), logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return snap, nil, &UsageError{Err: err}
	}
	return snap, at, err
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
	fmt.Fprintf(w, "%s (%s; %s)\n", units.Count(len(snap.GPUs), "GPU"), snap.Inventory, when)
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
		stringFlag("on-job-end", "after each job ends, run this shell command as the job's owner with RUNNER_JOB_ID, RUNNER_JOB_STATE, RUNNER_JOB_EXIT_CODE... set", ""),
	}
}

// newScheduler checks the job flags of `runner daemon` and wires the
// scheduler (daemon.NewScheduler).
func newScheduler(c *cli.Context, env Env, db *ledger.DB, eng *runsync.Engine, roots []string, logger *slog.Logger) (s *jobs.Scheduler, closeInv func(), err error) {
	interval := durationOf(c, "sample-interval")
	if interval <= 0 {
		return nil, nil, usagef("daemon: invalid --sample-interval: want a positive duration")
	}
	if c.Int("cpu-slots") < 0 {
		return nil, nil, usagef("daemon: --cpu-slots must not be negative")
	}
	wandbDir := c.String("jobs-wandb-dir")
	if wandbDir == "" {
		wandbDir = roots[0]
	}
	s, closeInv, err = daemon.NewScheduler(c.Context, db, eng, daemon.SchedulerOptions{
		GPUs: c.String("gpus"), JobUnits: c.String("job-units"), WandbDir: wandbDir, CPUSlots: c.Int("cpu-slots"),
		SampleInterval: interval, Self: env.Self, Now: env.Now, Getenv: env.Getenv,
		OnJobEnd: c.String("on-job-end"), Environ: env.Environ(),
	}, logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) || errors.Is(err, jobs.ErrBadUnitsMode) {
		return nil, nil, &UsageError{Err: err}
	}
	return s, closeInv, err
}

func printJobStatus(w io.Writer, counts map[string]int, block string, g *status.GPUs) {
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
