package text

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

// Runs is `runner runs`: one row per run dir, failed ones red; the note is
// the URL, the last error of a run not synced, or why it was skipped. On a
// terminal of width columns the note, name and dir are shortened to fit
// (Fit); width 0 (a pipe) prints every cell whole.
func Runs(w io.Writer, runs []ledger.Run, p Palette, width int) {
	rows := [][]string{{"RUN ID", "PROJECT", "NAME", "STATE", "EXIT", "ATTEMPTS", "JOB", "DIR", "NOTE"}}
	paints := []func(string) string{nil} // the header
	for _, r := range runs {
		exit := "-"
		if r.ExitCode != nil {
			exit = fmt.Sprint(*r.ExitCode)
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
			job = fmt.Sprint(*r.JobID)
		}
		rows = append(rows, []string{dash(r.RunID), dash(r.Project), dash(r.Name), string(r.State), exit,
			fmt.Sprint(r.Attempts), job, safe.Text(filepath.Base(r.Dir)), dash(safe.Text(note))})
		var paint func(string) string
		if r.State == ledger.StateFailed {
			paint = p.Red
		}
		paints = append(paints, paint)
	}
	io.WriteString(w, p.Rows(table(rows, width, []int{8, 2, 7}), paints))
}
