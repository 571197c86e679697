package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
)

// DefaultGCAge is how long a synced run's local dir is kept by default.
const DefaultGCAge = 30 * 24 * time.Hour

func gcCommand(env Env) *cli.Command {
	return &cli.Command{
		Name: "gc",
		Usage: "delete local dirs of runs synced longer ago than --older-than, prune old job logs, " +
			"compact the ledger (never touches a run that is not synced)",
		Flags: []cli.Flag{
			durationFlag("older-than", "keep what was synced (or, for job logs, ended) more recently than this", DefaultGCAge),
			boolFlag("dry-run", "report what would be deleted; delete nothing"),
			boolFlag("json", "print the report as one JSON object"),
		},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				rep, err := GC(c.Context, db, logger, GCOptions{
					OlderThan: durationOf(c, "older-than"), DryRun: c.Bool("dry-run"), Now: env.Now(),
				})
				if err != nil {
					return err
				}
				if err := show(c, env, rep, func() { rep.print(env.Stdout, env.Now()) }); err != nil {
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

// GCOptions are the inputs of one gc pass.
type GCOptions struct {
	OlderThan time.Duration
	DryRun    bool
	Now       time.Time
}

// GCReport is what `runner gc --json` prints.
type GCReport struct {
	OlderThan  string      `json:"older_than"`
	DryRun     bool        `json:"dry_run"`
	Runs       []GCRun     `json:"runs"`
	JobLogs    []GCJobLog  `json:"job_logs"`
	Skipped    []GCSkipped `json:"skipped"`
	FreedBytes int64       `json:"freed_bytes"` // runs and job logs (would be freed, with dry_run)
	Ledger     *GCLedger   `json:"ledger"`      // null with dry_run
	Errors     []string    `json:"errors"`
}

// GCRun is one synced run dir deleted (or to be deleted).
type GCRun struct {
	RunID    string  `json:"run_id"`
	Dir      string  `json:"dir"`
	SyncedAt *string `json:"synced_at"`
	Bytes    int64   `json:"bytes"`
}

// GCJobLog is one ended job's log (and status file) pruned.
type GCJobLog struct {
	JobID int64    `json:"job_id"`
	Files []string `json:"files"`
	Bytes int64    `json:"bytes"`
}

// GCSkipped is a candidate gc left alone, and why.
type GCSkipped struct {
	Dir    string `json:"dir"`
	Reason string `json:"reason"`
}

// GCLedger is the ledger's size on disk around the VACUUM.
type GCLedger struct {
	BeforeBytes  int64 `json:"before_bytes"`
	AfterBytes   int64 `json:"after_bytes"`
	PrunedEvents int64 `json:"pruned_events"` // events log entries older than the limit
}

// GC deletes the local dirs of runs that are synced and older than the
// limit, prunes the logs and captured environments of jobs that ended
// before it, and compacts the ledger.
// Per-item failures land in the report's Errors; the error return is for a
// ledger that cannot be read at all.
func GC(ctx context.Context, db *ledger.DB, logger *slog.Logger, o GCOptions) (*GCReport, error) {
	rep := &GCReport{OlderThan: units.FormatDuration(o.OlderThan), DryRun: o.DryRun,
		Runs: []GCRun{}, JobLogs: []GCJobLog{}, Skipped: []GCSkipped{}, Errors: []string{}}
	cutoff := o.Now.Add(-o.OlderThan)
	runs, err := db.GCCandidates(ctx, cutoff)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		as, why := gcRefusal(r, cutoff)
		if why != "" {
			rep.Skipped = append(rep.Skipped, GCSkipped{Dir: r.Dir, Reason: why})
			continue
		}
		size, err := dirBytes(r.Dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.Dir, unwrapPathError(err)))
			continue
		}
		gr := GCRun{RunID: r.RunID, Dir: r.Dir, SyncedAt: timePtr(r.SyncedAt), Bytes: size}
		if !o.DryRun {
			// As the dir's owner: a link swapped in on the way leads only
			// where they could delete themselves (docs/design.md "Threat model").
			if err := owner.Do(as, func() error { return os.RemoveAll(r.Dir) }); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("delete %s: %v", r.Dir, unwrapPathError(err)))
				continue
			}
			if _, err := db.MarkDeleted(ctx, r.Dir, size); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("record deletion of %s: %v", r.Dir, err))
			}
			logger.Info("deleted synced run dir", "dir", r.Dir, "bytes", size)
		}
		rep.Runs = append(rep.Runs, gr)
		rep.FreedBytes += size
	}

	files, err := db.EndedJobFiles(ctx, cutoff)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, f := range files {
		jl := GCJobLog{JobID: f.ID, Files: []string{}}
		for _, p := range []string{f.LogPath, f.StatusPath, f.EnvFile} {
			if p == "" {
				continue
			}
			st, err := os.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned before
			}
			if err == nil && !st.Mode().IsRegular() {
				err = errors.New("not a regular file")
			}
			if err == nil && !o.DryRun {
				err = os.Remove(p)
			}
			if err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("job %d file %s: %v", f.ID, p, unwrapPathError(err)))
				continue
			}
			jl.Files = append(jl.Files, p)
			jl.Bytes += st.Size()
		}
		if len(jl.Files) == 0 {
			continue
		}
		if !o.DryRun {
			msg := fmt.Sprintf("pruned job log (%d bytes)", jl.Bytes)
			if err := db.AddEvent(ctx, "gc", strconv.FormatInt(f.ID, 10), msg); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("record pruning of job %d: %v", f.ID, err))
			}
		}
		rep.JobLogs = append(rep.JobLogs, jl)
		rep.FreedBytes += jl.Bytes
	}

	if !o.DryRun {
		// The events log is history, not state: runs and jobs keep every row.
		pruned, err := db.PruneEvents(ctx, cutoff)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
		before, after, err := db.Vacuum(ctx)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			rep.Ledger = &GCLedger{BeforeBytes: before, AfterBytes: after, PrunedEvents: pruned}
		}
	}
	return rep, nil
}

// gcRefusal says why a synced run's dir must not be deleted after all, or "",
// and whom to delete it as (its owner). The ledger says synced; the disk must
// agree before anything is removed, reached without a link a user planted.
func gcRefusal(r ledger.Run, cutoff time.Time) (as owner.ID, why string) {
	as = owner.Self()
	if !filepath.IsAbs(r.Dir) || filepath.Clean(r.Dir) != r.Dir || filepath.Dir(r.Dir) == r.Dir {
		return as, "not an absolute run dir path"
	}
	if filepath.Dir(r.LogPath) != r.Dir {
		return as, "its log is not inside the run dir"
	}
	d, err := rundir.Open(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return as, "" // already gone: recorded as deleted, nothing freed
	}
	if err != nil {
		return as, unwrapPathError(err).Error()
	}
	defer d.Close()
	// A dir runner cannot act for is deleted as runner, which the file
	// system then allows or refuses.
	as, _ = owner.For(d.UID, d.GID, true)
	if ok, err := d.Marker(filepath.Base(r.LogPath) + ".synced"); !ok {
		if err != nil {
			return as, unwrapPathError(err).Error()
		}
		return as, "no .synced marker next to its log (was it synced from elsewhere?)"
	}
	st, err := d.Lstat(filepath.Base(r.LogPath))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return as, fmt.Sprintf("cannot stat its log: %v", unwrapPathError(err))
	}
	if err == nil && !time.Unix(st.Mtim.Unix()).Before(cutoff) {
		return as, "its log was written since the cutoff"
	}
	return as, ""
}

// dirBytes is the total size of the regular files under dir (symlinks not followed).
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

func (r *GCReport) print(w io.Writer, now time.Time) {
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
