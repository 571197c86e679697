package text

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

// Runs is `runner runs`: one row per run dir, failed ones red; the note is
// the URL, the last error of a run not synced, or why it was skipped.
func Runs(w io.Writer, runs []ledger.Run, p Palette) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tPROJECT\tNAME\tSTATE\tEXIT\tATTEMPTS\tJOB\tDIR\tNOTE")
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
		if note = safe.Text(note); len(note) > 80 {
			note = note[:77] + "..."
		}
		job := "-"
		if r.JobID != nil {
			job = fmt.Sprint(*r.JobID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", dash(r.RunID), dash(r.Project), dash(r.Name),
			r.State, exit, r.Attempts, job, safe.Text(filepath.Base(r.Dir)), note)
		var paint func(string) string
		if r.State == ledger.StateFailed {
			paint = p.Red
		}
		paints = append(paints, paint)
	}
	tw.Flush()
	io.WriteString(w, p.Rows(buf.String(), paints))
}
