package text

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/reports"
)

// On a terminal, backfill draws its recording progress and clears it at the end.
func TestProgressBarCountsUpAndClears(t *testing.T) {
	var buf bytes.Buffer
	bar := ProgressBar(&buf, "recording runs")
	bar(0, 3)
	bar(3, 3)
	out := buf.String()
	if !strings.Contains(out, "recording runs") || !strings.Contains(out, "/3)") {
		t.Errorf("progress output %q: want the description and a count of 3", out)
	}
	// Finished: the line is cleared, so the report that follows stands alone.
	if last := out[strings.LastIndex(strings.TrimSuffix(out, "\r"), "\r")+1:]; strings.TrimSpace(last) != "" {
		t.Errorf("the bar was not cleared at the end: %q", last)
	}
}

// over is a pass over runs, as ledger.DB.RunPasses hands one to Runs.
func over(runs []ledger.Run) func(func(ledger.Run) error) error {
	return func(fn func(ledger.Run) error) error {
		for _, r := range runs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// The runs table, streamed, is laid out as text/tabwriter lays out the
// same cells (padding 2): in a pipe byte for byte, whatever the widths,
// wide runes and colour of its rows.
func TestRunsTableIsTabwriterLayout(t *testing.T) {
	code := 2
	job := int64(7)
	runs := []ledger.Run{
		{Dir: "/w/wandb/offline-run-20261207_101010-abcd1234", Meta: ledger.Meta{RunID: "abcd1234", Project: "pde", Name: "größe-λ-run", Finished: true},
			State: ledger.StateSynced, URL: "https://wandb.ai/lab/pde/runs/abcd1234", Attempts: 1},
		{Dir: "/w/wandb/offline-run-2", Meta: ledger.Meta{ExitCode: &code}, State: ledger.StateFailed, LastError: "wandb sync exited 1", Attempts: 12, JobID: &job},
		{Dir: "/w/x", State: ledger.StateSkipped, Reason: "empty log: nothing to upload"},
	}
	var tw bytes.Buffer
	w := tabwriter.NewWriter(&tw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN ID\tPROJECT\tNAME\tSTATE\tEXIT\tATTEMPTS\tJOB\tDIR\tNOTE")
	fmt.Fprintln(w, "abcd1234\tpde\tgröße-λ-run\tsynced\t-\t1\t-\toffline-run-20261207_101010-abcd1234\thttps://wandb.ai/lab/pde/runs/abcd1234")
	fmt.Fprintln(w, "-\t-\t-\tfailed\t2\t12\t7\toffline-run-2\twandb sync exited 1")
	fmt.Fprintln(w, "-\t-\t-\tskipped\tnone\t0\t-\tx\tempty log: nothing to upload")
	w.Flush()
	var plain, coloured bytes.Buffer
	if err := Runs(&plain, over(runs), Palette{}, 0); err != nil {
		t.Fatal(err)
	}
	if plain.String() != tw.String() {
		t.Errorf("runs table:\n%s\ntabwriter:\n%s", plain.String(), tw.String())
	}
	if err := Runs(&coloured, over(runs), Palette{On: true}, 0); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(coloured.String(), "\n")
	if !strings.HasPrefix(lines[2], "\x1b[1;31m-  ") || strings.Contains(lines[1]+lines[3], "\x1b[") {
		t.Errorf("only the failed run should be red:\n%q", coloured.String())
	}
	if strip := strings.NewReplacer("\x1b[1;31m", "", "\x1b[0m", "").Replace(coloured.String()); strip != plain.String() {
		t.Errorf("colour changed the layout:\n%s\nvs\n%s", strip, plain.String())
	}
}

// A pass's error stops the table and is returned as is.
func TestRunsReturnsThePassError(t *testing.T) {
	boom := errors.New("ledger gone")
	err := Runs(io.Discard, func(fn func(ledger.Run) error) error { return boom }, Palette{}, 0)
	if !errors.Is(err, boom) {
		t.Errorf("Runs = %v, want the pass's error", err)
	}
}

// A short listing is read once; a long one twice (widths, then rows), and
// the long one's table is laid out as if it had been held whole.
func TestRunsReadsALongListingTwice(t *testing.T) {
	for _, n := range []int{3, heldRows + 1} {
		calls := 0
		pass := func(fn func(ledger.Run) error) error {
			calls++
			for i := range n {
				name := fmt.Sprintf("run-%d", i)
				if i == n-1 {
					name = "the-longest-name-comes-last"
				}
				if err := fn(ledger.Run{Dir: fmt.Sprintf("/w/offline-run-%d", i), Meta: ledger.Meta{Name: name}, State: ledger.StateSynced}); err != nil {
					return err
				}
			}
			return nil
		}
		var b bytes.Buffer
		if err := Runs(&b, pass, Palette{}, 0); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		want := 1
		if n > heldRows {
			want = 2
		}
		col := strings.Index(lines[0], "STATE")
		if calls != want || len(lines) != n+1 || strings.Index(lines[1], "synced") != col || strings.Index(lines[n], "synced") != col {
			t.Errorf("%d runs: %d reads (want %d), %d lines, STATE at %d, first row %q, last %q", n, calls, want, len(lines), col, lines[1], lines[n])
		}
	}
}

// Names are escaped in human output: a newline cannot fake a row, a bidi
// override cannot reverse text.
func TestRunsTableEscapesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	Runs(&b, over([]ledger.Run{{Dir: "/w/offline-run-1-x\nFAKE ROW", Meta: ledger.Meta{RunID: "x", Name: "evil\u202eamrof"}, State: ledger.StateSynced}}), Palette{}, 0)
	out := b.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, `\u000a`) || !strings.Contains(out, `evil\u202eamrof`) {
		t.Errorf("table:\n%s\nwant 2 lines with the newline and the bidi override escaped", out)
	}
}

// The jobs table at a glance: GPU indexes (not UUIDs), elapsed or time
// queued, the command as a shell would take it back, and on a terminal
// each line cut to its width.
func TestJobsTableAtAGlance(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	code := 0
	list := []ledger.Job{
		{ID: 1, Name: "train", Owner: "alice", OwnerUID: 1001, State: ledger.JobRunning, GPUs: 2, GPUUUIDs: []string{"GPU-5d0c1111-aaaa", "GPU-9a1e2222-bbbb"},
			Argv: []string{"python", "train.py", "--lr", "3e-4"}, SubmittedAt: *at(2 * time.Hour), StartedAt: at(90 * time.Minute)},
		{ID: 2, Owner: "root", State: ledger.JobQueued, GPUs: 1, Reason: "waiting for job 1 (running)",
			Argv: []string{"sh", "-c", "echo 'hi there'"}, SubmittedAt: *at(5 * time.Minute)},
		{ID: 3, Name: "eval", Owner: "bob", OwnerUID: 1002, State: ledger.JobSucceeded, ExitCode: &code, Argv: []string{"true"},
			SubmittedAt: *at(time.Hour), StartedAt: at(40 * time.Minute), EndedAt: at(39 * time.Minute)},
	}
	var b strings.Builder
	Jobs(&b, list, JobTable{Header: true, GPUIndex: map[string]int{"GPU-5d0c1111-aaaa": 0}, Now: now}, Palette{})
	out := b.String()
	want := `ID  NAME   OWNER  STATE      GPUS         ELAPSED    EXIT  REASON                       COMMAND
1   train  alice  running    0,GPU-9a1e…  1h         -     -                            python train.py --lr 3e-4
2   -      root   queued     (1)          queued 5m  -     waiting for job 1 (running)  sh -c 'echo '\''hi there'\'''
3   eval   bob    succeeded  -            1m         0     -                            true
`
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(out, "GPU-5d0c") {
		t.Errorf("a GPU the view knows is shown by UUID:\n%s", out)
	}
	b.Reset()
	Jobs(&b, list, JobTable{Header: true, Now: now, Width: 40}, Palette{})
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if n := len([]rune(line)); n > 40 {
			t.Errorf("line of %d runes on a 40-column terminal: %q", n, line)
		}
	}
	if !strings.Contains(b.String(), "…\n") {
		t.Errorf("no line was cut at 40 columns:\n%s", b.String())
	}
}

// Failed jobs are red and the table stays aligned.
func TestColourKeepsTheLayout(t *testing.T) {
	code := 1
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	list := []ledger.Job{
		{ID: 1, State: ledger.JobSucceeded, Argv: []string{"true"}, SubmittedAt: now},
		{ID: 2, State: ledger.JobFailed, ExitCode: &code, Argv: []string{"false"}, SubmittedAt: now},
	}
	var plain, coloured strings.Builder
	Jobs(&plain, list, JobTable{Header: true, Now: now}, Palette{})
	Jobs(&coloured, list, JobTable{Header: true, Now: now}, Palette{On: true})
	lines := strings.Split(coloured.String(), "\n")
	if strings.Contains(lines[1], "\x1b[") || !strings.HasPrefix(lines[2], "\x1b[1;31m2 ") {
		t.Errorf("coloured table:\n%q", coloured.String())
	}
	if strip := strings.NewReplacer("\x1b[1;31m", "", "\x1b[0m", "").Replace(coloured.String()); strip != plain.String() {
		t.Errorf("colour changed the layout:\n%s\nvs\n%s", strip, plain.String())
	}
}

// runs on a 100-column terminal fits in 100 columns, the long free text
// (note, name, dir) shortened with "…"; in a pipe every cell is whole.
func TestRunsFitTheTerminalAndNeverCutAPipe(t *testing.T) {
	long := strings.Repeat("a-very-long-wandb-name-", 6)
	failure := "wandb sync exited 1: " + strings.Repeat("network unreachable; ", 8)
	runs := []ledger.Run{
		{Dir: "/w/wandb/offline-run-20261207_101010-abcd1234", Meta: ledger.Meta{RunID: "abcd1234", Project: "pde", Name: long},
			State: ledger.StateFailed, LastError: failure, Attempts: 3},
		{Dir: "/w/wandb/offline-run-20261207_111111-efgh5678", Meta: ledger.Meta{RunID: "efgh5678", Project: "pde", Name: "short"},
			State: ledger.StateSynced, URL: "https://wandb.ai/lab/pde/runs/efgh5678"},
	}
	var tty bytes.Buffer
	Runs(&tty, over(runs), Palette{}, 100)
	for _, line := range strings.Split(strings.TrimSuffix(tty.String(), "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line of %d columns on a 100-column terminal: %q", n, line)
		}
	}
	if !strings.Contains(tty.String(), "…") || !strings.Contains(tty.String(), "abcd1234") || !strings.Contains(tty.String(), "efgh5678") {
		t.Errorf("terminal table lost its ids or shortened nothing:\n%s", tty.String())
	}
	var pipe bytes.Buffer
	Runs(&pipe, over(runs), Palette{}, 0)
	if !strings.Contains(pipe.String(), long) || !strings.Contains(pipe.String(), strings.TrimSpace(failure)) || strings.Contains(pipe.String(), "…") {
		t.Errorf("a pipe got a cut cell:\n%s", pipe.String())
	}
}

// The jobs table never cuts a reason in a pipe; on a terminal the reason,
// command and name give way (with "…") before a line is cut.
func TestJobsReasonWholeInAPipe(t *testing.T) {
	reason := "waiting for 2 free GPUs (0 free): GPU 0 is held by job 7, GPU 1 is held by job 9 until 14:02"
	list := []ledger.Job{{ID: 12, Name: "train", Owner: "ana", State: ledger.JobQueued, Reason: reason,
		Argv: []string{"python", "train.py", "--config", "configs/very/long/path/to/an/experiment.yaml"}}}
	var pipe, tty bytes.Buffer
	Jobs(&pipe, list, JobTable{Header: true}, Palette{})
	Jobs(&tty, list, JobTable{Header: true, Width: 80}, Palette{})
	if !strings.Contains(pipe.String(), reason) || strings.Contains(pipe.String(), "…") {
		t.Errorf("a pipe got a cut reason:\n%s", pipe.String())
	}
	for _, line := range strings.Split(strings.TrimSuffix(tty.String(), "\n"), "\n") {
		if utf8.RuneCountInString(line) > 80 {
			t.Errorf("line wider than the 80-column terminal: %q", line)
		}
	}
	if !strings.Contains(tty.String(), "waiting for") || !strings.Contains(tty.String(), "…") {
		t.Errorf("terminal table:\n%s", tty.String())
	}
}

// An array's queued tasks that wait alike are one row, as squeue shows a
// pending array; running and ended tasks keep their own rows and ids.
func TestJobsTableCollapsesQueuedArrayTasks(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	started := now.Add(-time.Minute)
	task := func(id, idx int64, st ledger.JobState, reason string) ledger.Job {
		j := ledger.Job{ID: id, Name: "sweep", RunGroup: "sweep", Owner: "alice", State: st, Reason: reason,
			ArrayID: 17, ArrayIndex: idx, Argv: []string{"python", "t.py"}, SubmittedAt: now.Add(-time.Hour)}
		if st == ledger.JobRunning {
			j.StartedAt = &started
		}
		return j
	}
	list := []ledger.Job{
		task(17, 1, ledger.JobRunning, ""),
		task(18, 2, ledger.JobQueued, "array limit"),
		task(19, 3, ledger.JobQueued, "array limit"),
		task(20, 5, ledger.JobQueued, "held"),
		task(21, 7, ledger.JobQueued, "array limit"),
		{ID: 22, Name: "lone", State: ledger.JobQueued, Argv: []string{"true"}, SubmittedAt: now},
		task(23, 9, ledger.JobQueued, "held"),
		task(24, 11, ledger.JobQueued, "other"),
	}
	list[3].Held, list[6].Held = true, true
	for _, tc := range []struct {
		name     string
		collapse bool
		ids      []string
	}{
		{"collapsed", true, []string{"17", "17_[2-3,7]", "17_[5,9]", "22", "24"}},
		{"every task", false, []string{"17", "18", "19", "20", "21", "22", "23", "24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			Jobs(&b, list, JobTable{Cols: []string{"id", "name", "state", "reason"}, Now: now, Collapse: tc.collapse}, Palette{})
			var ids, lines []string
			for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				ids = append(ids, strings.Fields(line)[0])
				lines = append(lines, strings.Join(strings.Fields(line), " "))
			}
			if strings.Join(ids, " ") != strings.Join(tc.ids, " ") {
				t.Errorf("ids %q; want %q:\n%s", ids, tc.ids, b.String())
			}
			if tc.collapse && lines[1] != "17_[2-3,7] sweep queued array limit" {
				t.Errorf("the collapsed row names the array's group and its reason:\n%s", b.String())
			}
		})
	}
}

func TestIndexRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want string
	}{
		{[]int64{5}, "5"},
		{[]int64{1, 2, 3, 7}, "1-3,7"},
		{[]int64{9, 0, 1, 4, 5, 6}, "0-1,4-6,9"},
		{[]int64{2, 4, 6}, "2,4,6"},
	} {
		if got := indexRanges(tc.in); got != tc.want {
			t.Errorf("indexRanges(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// The regressions table, read in two passes (widths, then rows), is what
// text/tabwriter (padding 2) laid out when the table was held whole:
// byte for byte, with wide names, missing ids and non-finite numbers.
func TestRegressionsTableIsTabwriterLayout(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	nan := math.NaN()
	regs := []reports.RegressionJSON{
		{ID: 3, At: now.Add(-3 * time.Minute).Format(time.RFC3339), RunID: "abcd1234", Name: "größe-λ-run",
			Verdict: kernels.Verdict{Metric: "eval/nrmse", Value: 0.3, Median: 0.15, RelDelta: 1, Z: 10.1}},
		{ID: 2, At: now.Add(-50 * time.Hour).Format(time.RFC3339), Name: "a-much-longer-run-name-than-the-others",
			Verdict: kernels.Verdict{Metric: "eval.physics.energy_drift", Value: nan, Median: 1e-7, RelDelta: nan, Z: math.Inf(1)}},
		{ID: 1, At: "not a time", RunID: "x", Verdict: kernels.Verdict{Metric: "l", Value: -2, Median: 12345678, RelDelta: -0.5, Z: -3}},
	}
	for _, tc := range []struct {
		name string
		regs []reports.RegressionJSON
	}{
		{"none", nil},
		{"one", regs[:1]},
		{"three", regs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			if len(tc.regs) == 0 {
				want.WriteString("no regressions recorded\n")
			} else {
				w := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "AT\tRUN ID\tNAME\tMETRIC\tVALUE\tMEDIAN\tCHANGE\tZ")
				for _, r := range tc.regs {
					v := r.Verdict
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", Ago(now, r.At), dash(r.RunID), dash(r.Name), v.Metric,
						fmtF(v.Value), fmtF(v.Median), signedPct(v.RelDelta), signedF(v.Z))
				}
				w.Flush()
			}
			passes := 0
			var got bytes.Buffer
			err := Regressions(&got, func(fn func(reports.RegressionJSON) error) error {
				passes++
				for _, r := range tc.regs {
					if err := fn(r); err != nil {
						return err
					}
				}
				return nil
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("regressions table:\n%s\ntabwriter:\n%s", got.String(), want.String())
			}
			if want := min(len(tc.regs)+1, 2); passes != want {
				t.Errorf("%d passes over %d regressions, want %d", passes, len(tc.regs), want)
			}
		})
	}
}
