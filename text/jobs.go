package text

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// JobColumns are the names `runner jobs --format` takes.
const JobColumns = "id,name,owner,state,slurm,node,gpus,elapsed,exit,reason,command,priority,submitted,started,ended,run_id,attempts,labels"

// ParseJobColumns reads a comma list of JobColumns; "" is the default
// table (nil).
func ParseJobColumns(format string) ([]string, error) {
	if format == "" {
		return nil, nil
	}
	valid := strings.Split(JobColumns, ",")
	var cols []string
	for _, w := range strings.Split(format, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if !slices.Contains(valid, w) {
			return nil, fmt.Errorf("unknown column %q: want a comma list of %s", w, JobColumns)
		}
		cols = append(cols, w)
	}
	return cols, nil
}

// JobTable is how Jobs lays out the table.
type JobTable struct {
	Cols     []string // nil: the default columns
	Header   bool
	GPUIndex map[string]int // GPU UUID to index (jobs.GPUIndexes)
	Now      time.Time
	Width    int // cut lines to it; 0: not cut
	// Collapse: an array's queued tasks that wait alike show as one row
	// (arrayRows); --json and --array list every task.
	Collapse bool
}

// jobRow is one row of the table: a job, or the queued tasks of an array
// that wait alike (indexes holds their array indexes, more than one;
// tasks says them, "_[1-3,7]", once per row).
type jobRow struct {
	*ledger.Job // list's own: a copy per row cost 4 ms per 1,000 jobs
	indexes     []int64
	tasks       string
}

// arrayRows is the Slurm squeue rule for arrays (docs/design.md "The jobs
// view"): the queued tasks of one array with the same hold and reason are
// one row, where the first of them is; running and ended tasks, and a
// task alone in its group, keep their own rows (their own ids are what
// logs, cancel and wait take).
func arrayRows(list []ledger.Job) []jobRow {
	type key struct {
		array  int64
		held   bool
		reason string
	}
	rows := make([]jobRow, 0, len(list))
	at := map[key]int{}
	for i := range list {
		j := &list[i]
		if j.ArrayID == 0 || j.State != ledger.JobQueued {
			rows = append(rows, jobRow{Job: j})
			continue
		}
		k := key{j.ArrayID, j.Held, j.Reason}
		if i, ok := at[k]; ok {
			rows[i].indexes = append(rows[i].indexes, j.ArrayIndex)
			continue
		}
		at[k] = len(rows)
		rows = append(rows, jobRow{Job: j, indexes: []int64{j.ArrayIndex}})
	}
	for i := range rows {
		if len(rows[i].indexes) < 2 {
			rows[i].indexes = nil
		} else {
			rows[i].tasks = "_[" + indexRanges(rows[i].indexes) + "]"
		}
	}
	return rows
}

// indexRanges writes array indexes as Slurm does: runs of consecutive
// ones as a range, the rest by commas ("1-3,7").
func indexRanges(indexes []int64) string {
	idx := slices.Clone(indexes)
	slices.Sort(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(idx[i], 10))
		if j > i {
			b.WriteString("-" + strconv.FormatInt(idx[j], 10))
		}
		i = j + 1
	}
	return b.String()
}

// Jobs is the at-a-glance table: GPUs by index (UUIDs stay in --json),
// how long a job has run (or waited), and its command last, so that on a
// terminal each line is cut to the width. Failed and lost jobs are red.
func Jobs(w io.Writer, list []ledger.Job, t JobTable, p Palette) {
	cols := t.Cols
	if cols == nil {
		cols = []string{"id", "name", "owner", "state", "gpus", "elapsed", "exit", "reason", "command"}
		// Jobs that Slurm runs show its job id and their node.
		if slices.ContainsFunc(list, func(j ledger.Job) bool { return j.Executor == ledger.ExecutorSlurm }) {
			cols = slices.Insert(cols, 4, "slurm", "node")
		}
	}
	var rows [][]string
	var paints []func(string) string
	if t.Header {
		rows = append(rows, strings.Split(strings.ToUpper(strings.Join(cols, "\t")), "\t"))
		paints = append(paints, nil)
	}
	var shown []jobRow
	if t.Collapse {
		shown = arrayRows(list)
	} else {
		shown = make([]jobRow, len(list))
		for i := range list {
			shown[i] = jobRow{Job: &list[i]}
		}
	}
	for _, j := range shown {
		cells := make([]string, len(cols))
		for i, col := range cols {
			cells[i] = jobCell(col, j, t)
		}
		rows = append(rows, cells)
		var paint func(string) string
		if j.State == ledger.JobFailed || j.State == ledger.JobLost {
			paint = p.Red
		}
		paints = append(paints, paint)
	}
	// On a terminal the free text gives way first (reason, command, name),
	// then the line is cut; in a pipe nothing is.
	var free []int
	for i, col := range cols {
		if col == "reason" || col == "command" || col == "name" {
			free = append(free, i)
		}
	}
	io.WriteString(w, p.Rows(Cut(table(rows, t.Width, free), t.Width), paints))
}

// jobCell is one column of job j's row.
func jobCell(col string, r jobRow, t JobTable) string {
	j := *r.Job
	when := func(at *time.Time) string {
		if at == nil {
			return "-"
		}
		return at.Local().Format("2006-01-02 15:04")
	}
	tasks := r.tasks
	switch col {
	case "id":
		if r.indexes != nil {
			return strconv.FormatInt(j.ArrayID, 10) + tasks
		}
		return strconv.FormatInt(j.ID, 10)
	case "name":
		if r.indexes != nil {
			return dash(cmp.Or(j.RunGroup, j.Name))
		}
		if j.ArrayID != 0 {
			return fmt.Sprintf("%s[%d]", cmp.Or(j.RunGroup, j.Name), j.ArrayIndex)
		}
		return dash(j.Name)
	case "owner":
		return dash(j.Owner)
	case "state":
		return string(j.State)
	case "slurm":
		if base, _, ok := strings.Cut(j.EngineID, "_"); ok && r.indexes != nil {
			return base + tasks
		}
		return dash(j.EngineID)
	case "node":
		return dash(j.Node)
	case "gpus":
		return jobGPUs(j, t.GPUIndex)
	case "elapsed":
		return elapsed(j, t.Now)
	case "exit":
		switch {
		case j.ExitCode != nil:
			return strconv.Itoa(*j.ExitCode)
		case j.Signal != "":
			return j.Signal
		}
		return "-"
	case "reason":
		return dash(j.Reason)
	case "command":
		return dash(CommandLine(j.Argv))
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

// CommandLine shows argv as a shell would take it back: words with spaces,
// quotes or shell characters in single quotes.
func CommandLine(argv []string) string {
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
		return Rough(j.EndedAt.Sub(*j.StartedAt))
	case j.StartedAt != nil:
		return Rough(now.Sub(*j.StartedAt))
	case j.EndedAt == nil:
		return "queued " + Rough(now.Sub(j.SubmittedAt))
	}
	return "-"
}

// Fields is `runner jobs ID`: every field of v's JSON object, one
// "key: value" line each, in JSON's order (as scontrol show job).
func Fields(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	tw := newTabs(w, 1)
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

// GPUs is `runner gpus`: each GPU with its memory, utilisation, processes
// and the job holding it; at is when the daemon sampled them (nil: now).
func GPUs(w io.Writer, snap jobs.Snapshot, at *time.Time, now time.Time) {
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
	tw := newTabs(w, 2)
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

// endsListed is how many ended jobs Ends names one per line; beyond it,
// a count per state and the jobs that did not succeed.
const endsListed = 10

// EndLine says how job j ended, for a person: the state, the exit code or
// signal, how long it ran, and the reason when there is no exit code.
func EndLine(j ledger.Job) string {
	s := fmt.Sprintf("job %d %s", j.ID, j.State)
	switch {
	case j.ExitCode != nil:
		s += fmt.Sprintf(" (exit %d)", *j.ExitCode)
	case j.Signal != "":
		s += " (" + safe.Text(j.Signal) + ")"
	}
	if j.StartedAt != nil && j.EndedAt != nil {
		s += " after " + Rough(j.EndedAt.Sub(*j.StartedAt))
	}
	if j.ExitCode == nil && j.Reason != "" && j.State != ledger.JobSucceeded {
		s += ": " + safe.Text(j.Reason)
	}
	return s
}

// Ends writes the end lines of ended jobs (wait, logs -f).
func Ends(w io.Writer, ended []ledger.Job) {
	if len(ended) <= endsListed {
		for _, j := range ended {
			fmt.Fprintln(w, "runner: "+EndLine(j))
		}
		return
	}
	counts := map[ledger.JobState]int{}
	var bad []ledger.Job
	for _, j := range ended {
		counts[j.State]++
		if j.State != ledger.JobSucceeded {
			bad = append(bad, j)
		}
	}
	var parts []string
	for _, st := range ledger.AllJobStates {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	fmt.Fprintf(w, "runner: %d jobs ended: %s\n", len(ended), strings.Join(parts, ", "))
	for i, j := range bad {
		if i == endsListed {
			fmt.Fprintf(w, "runner: ... and %d more that did not succeed (runner jobs --state failed,cancelled)\n", len(bad)-i)
			break
		}
		fmt.Fprintln(w, "runner: "+EndLine(j))
	}
}

// Clean is `runner clean`'s report: how many ended jobs and files were (or,
// with dryRun, would be) removed.
func Clean(w io.Writer, r jobs.CleanResult, dryRun bool) {
	if r.Jobs == 0 {
		fmt.Fprintln(w, "no ended job to clean")
		return
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(w, "%s %s and %s\n", verb, units.Count(r.Jobs, "ended job"), units.Count(r.Files, "file"))
}
