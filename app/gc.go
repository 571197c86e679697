package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/gc"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
)

func gcCommand(env Env) *cli.Command {
	return &cli.Command{
		Name: "gc",
		Usage: "delete local dirs of runs synced longer ago than --older-than, prune old job logs, " +
			"compact the ledger (never touches a run that is not synced)",
		Flags: []cli.Flag{
			durationFlag("older-than", "keep what was synced (or, for job logs, ended) more recently than this", gc.DefaultAge),
			boolFlag("dry-run", "report what would be deleted; delete nothing"),
			boolFlag("json", "print the report as one JSON object"),
		},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				rep, err := gc.Collect(c.Context, db, logger, gc.Options{
					OlderThan: durationOf(c, "older-than"), DryRun: c.Bool("dry-run"), Now: env.Now(),
				})
				if err != nil {
					return err
				}
				if err := show(c, env, rep, func() { printGC(env.Stdout, rep, env.Now()) }); err != nil {
					return err
				}
				if len(rep.Errors) > 0 {
					return fmt.Errorf("gc: %d error(s): %s", len(rep.Errors), rep.Errors[0])
				}
				return nil
			})
		},
	}
}

func printGC(w io.Writer, r *gc.Report, now time.Time) {
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
	fmt.Fprintf(w, "%s %d synced run dir(s) older than %s: %s\n", verb, len(r.Runs), r.OlderThan, humanBytes(runBytes))
	for _, x := range r.Runs {
		synced := "unknown"
		if x.SyncedAt != nil {
			synced = ago(now, *x.SyncedAt)
		}
		fmt.Fprintf(w, "  %s  %s  (run %s, synced %s)\n", humanBytes(x.Bytes), x.Dir, orDash(x.RunID), synced)
	}
	fmt.Fprintf(w, "%s %d job log(s): %s\n", pruned, len(r.JobLogs), humanBytes(logBytes))
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
