package text

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runnerhq/runner/gc"
	"github.com/runnerhq/runner/internal/units"
)

// GC is the human form of a gc report.
func GC(w io.Writer, r *gc.Report, now time.Time) {
	verb, pruned := "deleted", "pruned"
	if r.DryRun {
		verb, pruned = "would delete", "would prune"
	}
	var runBytes, logBytes int64
	for _, x := range r.Runs {
		runBytes += x.Bytes
	}
	for _, x := range r.JobLogs {
		logBytes += x.Bytes
	}
	fmt.Fprintf(w, "%s %s older than %s: %s\n", verb, units.Count(len(r.Runs), "synced run dir"), r.OlderThan, humanBytes(runBytes))
	for _, x := range r.Runs {
		synced := "unknown"
		if x.SyncedAt != nil {
			synced = Ago(now, *x.SyncedAt)
		}
		fmt.Fprintf(w, "  %s  %s  (run %s, synced %s)\n", humanBytes(x.Bytes), x.Dir, orDash(x.RunID), synced)
	}
	fmt.Fprintf(w, "%s %s: %s\n", pruned, units.Count(len(r.JobLogs), "job log"), humanBytes(logBytes))
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "kept %s: %s\n", s.Dir, s.Reason)
	}
	if r.Ledger != nil {
		fmt.Fprintf(w, "ledger: %s -> %s after vacuum (%d old events pruned)\n", humanBytes(r.Ledger.BeforeBytes), humanBytes(r.Ledger.AfterBytes), r.Ledger.PrunedEvents)
	}
	freed := "freed"
	if r.DryRun {
		freed = "would free"
	}
	fmt.Fprintf(w, "%s %s in all\n", freed, humanBytes(r.FreedBytes))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

func humanBytes(n int64) string { return units.FormatSize(uint64(max(n, 0))) }

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
