// Package gc frees what runner no longer needs on disk: local dirs of runs
// synced long ago (as their owners, docs/design.md "Threat model"), logs of
// jobs that ended long ago, old events, and the ledger's free pages.
package gc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
)

// DefaultAge is how long a synced run's local dir is kept by default.
const DefaultAge = 30 * 24 * time.Hour

// Options are the inputs of one gc pass.
type Options struct {
	OlderThan time.Duration
	DryRun    bool
	Now       time.Time
}

// Report is what `runner gc --json` prints.
type Report struct {
	OlderThan  string    `json:"older_than"`
	DryRun     bool      `json:"dry_run"`
	Runs       []Run     `json:"runs"`
	JobLogs    []JobLog  `json:"job_logs"`
	Skipped    []Skipped `json:"skipped"`
	FreedBytes int64     `json:"freed_bytes"` // runs and job logs (would be freed, with dry_run)
	Ledger     *Ledger   `json:"ledger"`      // null with dry_run
	Errors     []string  `json:"errors"`
}

// Run is one synced run dir deleted (or to be deleted).
type Run struct {
	RunID    string  `json:"run_id"`
	Dir      string  `json:"dir"`
	SyncedAt *string `json:"synced_at"`
	Bytes    int64   `json:"bytes"`
}

// JobLog is one ended job's log (and status file) pruned.
type JobLog struct {
	JobID int64    `json:"job_id"`
	Files []string `json:"files"`
	Bytes int64    `json:"bytes"`
}

// Skipped is a candidate gc left alone, and why.
type Skipped struct {
	Dir    string `json:"dir"`
	Reason string `json:"reason"`
}

// Ledger is the ledger's size on disk around the VACUUM.
type Ledger struct {
	BeforeBytes  int64 `json:"before_bytes"`
	AfterBytes   int64 `json:"after_bytes"`
	PrunedEvents int64 `json:"pruned_events"` // events log entries older than the limit
}

// Collect deletes the local dirs of runs that are synced and older than the
// limit, prunes the logs and captured environments of jobs that ended
// before it, and compacts the ledger.
// Per-item failures land in the report's Errors; the error return is for a
// ledger that cannot be read at all.
func Collect(ctx context.Context, db *ledger.DB, logger *slog.Logger, o Options) (*Report, error) {
	rep := &Report{OlderThan: units.FormatDuration(o.OlderThan), DryRun: o.DryRun,
		Runs: []Run{}, JobLogs: []JobLog{}, Skipped: []Skipped{}, Errors: []string{}}
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
			rep.Skipped = append(rep.Skipped, Skipped{Dir: r.Dir, Reason: why})
			continue
		}
		size, err := dirBytes(r.Dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.Dir, rundir.PathCause(err)))
			continue
		}
		gr := Run{RunID: r.RunID, Dir: r.Dir, SyncedAt: api.TimePtr(r.SyncedAt), Bytes: size}
		if !o.DryRun {
			// As the dir's owner: a link swapped in on the way leads only
			// where they could delete themselves (docs/design.md "Threat model").
			if err := owner.Do(as, func() error { return os.RemoveAll(r.Dir) }); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("delete %s: %v", r.Dir, rundir.PathCause(err)))
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
		jl := JobLog{JobID: f.ID, Files: []string{}}
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
				rep.Errors = append(rep.Errors, fmt.Sprintf("job %d file %s: %v", f.ID, p, rundir.PathCause(err)))
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
			rep.Ledger = &Ledger{BeforeBytes: before, AfterBytes: after, PrunedEvents: pruned}
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
		return as, rundir.PathCause(err).Error()
	}
	defer d.Close()
	// A dir runner cannot act for is deleted as runner, which the file
	// system then allows or refuses.
	as, _ = owner.For(d.UID, d.GID, true)
	if ok, err := d.Marker(filepath.Base(r.LogPath) + ".synced"); !ok {
		if err != nil {
			return as, rundir.PathCause(err).Error()
		}
		return as, "no .synced marker next to its log (was it synced from elsewhere?)"
	}
	st, err := d.Lstat(filepath.Base(r.LogPath))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return as, fmt.Sprintf("cannot stat its log: %v", rundir.PathCause(err))
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
