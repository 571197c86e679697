package text

import (
	"bufio"
	"io"
	"path/filepath"
	"strconv"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

// Runs is `runner runs`: one row per run dir, failed ones red; the note is
// the URL, the last error of a run not synced, or why it was skipped. On a
// terminal of width columns the note, name and dir are shortened to fit
// (Fit); width 0 (a pipe) prints every cell whole. pass reads the runs: a
// listing of up to heldRows runs is read once and laid out from memory; a
// longer one is read twice, for the column widths and then for the rows,
// so no more than heldRows are ever held (ledger.DB.RunPasses reads both
// from one snapshot). pass's error is returned as is.
func Runs(w io.Writer, pass func(func(ledger.Run) error) error, p Palette, width int) error {
	head := []string{"RUN ID", "PROJECT", "NAME", "STATE", "EXIT", "ATTEMPTS", "JOB", "DIR", "NOTE"}
	c := columns{gap: 2, free: []int{8, 2, 7}}
	c.measure(head)
	var held [][]string
	var failed []bool
	n := 0
	if err := pass(func(r ledger.Run) error {
		row := runRow(r)
		c.measure(row)
		if n++; n <= heldRows {
			held, failed = append(held, row), append(failed, r.State == ledger.StateFailed)
		} else {
			held, failed = nil, nil
		}
		return nil
	}); err != nil {
		return err
	}
	c.fit(width)
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	write := func(row []string, paint func(string) string) error {
		line = c.line(line[:0], row)
		if paint != nil {
			line = append(line[:0], paint(string(line))...)
		}
		_, err := bw.Write(append(line, '\n'))
		return err
	}
	if err := write(head, nil); err != nil {
		return err
	}
	paint := func(failed bool) func(string) string {
		if failed && p.On {
			return p.Red
		}
		return nil
	}
	if n <= heldRows {
		for i, row := range held {
			if err := write(row, paint(failed[i])); err != nil {
				return err
			}
		}
	} else if err := pass(func(r ledger.Run) error {
		return write(runRow(r), paint(r.State == ledger.StateFailed))
	}); err != nil {
		return err
	}
	return bw.Flush()
}

// heldRows is the longest runs table laid out from memory, in one read: a
// filtered listing reads each run's row (the covering index is for the
// listing of every run), and reading it twice cost more than holding it.
const heldRows = 10_000

// runRow is the cells of r's row.
func runRow(r ledger.Run) []string {
	exit := "-"
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	} else if !r.Finished {
		exit = "none"
	}
	note := r.URL
	if r.LastError != "" && r.State != ledger.StateSynced {
		note = r.LastError
	}
	if r.Reason != "" && (r.State == ledger.StateSkipped || r.State == ledger.StateMissing) {
		note = r.Reason
	}
	job := "-"
	if r.JobID != nil {
		job = strconv.FormatInt(*r.JobID, 10)
	}
	return []string{dash(r.RunID), dash(r.Project), dash(r.Name), string(r.State), exit,
		strconv.Itoa(r.Attempts), job, safe.Text(filepath.Base(r.Dir)), dash(safe.Text(note))}
}
