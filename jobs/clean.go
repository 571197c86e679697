package jobs

// Cleaning the queue's history (runner clean): ended jobs leave the ledger
// and their files go with them (docs/design.md "Cleaning jobs").

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
)

// ErrNotEndedState: clean was asked for jobs that have not ended.
var ErrNotEndedState = errors.New("only ended jobs are cleaned")

// CleanStore is what clean needs from the ledger.
type CleanStore interface {
	CleanJobs(ctx context.Context, f ledger.JobFilter, dryRun bool) ([]ledger.JobFiles, error)
}

// CleanOptions says which ended jobs go.
type CleanOptions struct {
	States []ledger.JobState // "": every ended state
	Before time.Time         // only jobs that ended before it; zero: any time
	IDs    []int64           // only these jobs; nil: any
	DryRun bool
	// Owner: only the jobs of this user (clean --user); "": everyone's.
	// Only root (CallerUID 0) may name another user than CallerName.
	Owner      string
	CallerUID  int
	CallerName string
	// Socket: the caller came through the daemon's socket (may not write
	// the ledger), so without Owner they clean their own jobs, not everyone's.
	Socket bool
}

// ErrOthersJobs: clean --user named someone else, and the caller is not root.
var ErrOthersJobs = errors.New("only root may clean another user's jobs")

// CleanResult is what clean removed (or, dry, would remove).
type CleanResult struct {
	Jobs   int
	Files  int
	Errors []string // files that could not be deleted (the rows are gone)
}

// Clean removes the ended jobs o selects from the ledger (one transaction)
// and then deletes their files. A queued or running state is refused
// (ErrNotEndedState).
func Clean(ctx context.Context, db CleanStore, o CleanOptions) (CleanResult, error) {
	var r CleanResult
	for _, s := range o.States {
		if !s.Ended() {
			return r, fmt.Errorf("%w: %s is not an ended state (%v)", ErrNotEndedState, s, ledger.EndedJobStates)
		}
	}
	if o.Socket && o.CallerUID != 0 && o.Owner == "" {
		o.Owner = o.CallerName
	}
	if o.Owner != "" && o.CallerUID != 0 && o.Owner != o.CallerName {
		return r, fmt.Errorf("--user %s: %w (you are %s)", o.Owner, ErrOthersJobs, o.CallerName)
	}
	states := o.States
	if len(states) == 0 {
		states = ledger.EndedJobStates
	}
	files, err := db.CleanJobs(ctx, ledger.JobFilter{States: states, EndedBefore: o.Before, IDs: o.IDs, Owner: o.Owner}, o.DryRun)
	if err != nil {
		return r, err
	}
	r.Jobs = len(files)
	for _, f := range files {
		for _, p := range []string{f.LogPath, f.StatusPath, f.EnvFile} {
			if p == "" {
				continue
			}
			st, err := os.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned before (runner gc)
			}
			if err == nil && !st.Mode().IsRegular() {
				err = errors.New("not a regular file")
			}
			if err == nil && !o.DryRun {
				err = os.Remove(p)
			}
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("job %d: %v", f.ID, err))
				continue
			}
			r.Files++
		}
		// The job's own directory (jobs/<id>/), once empty.
		if dir := filepath.Dir(f.LogPath); !o.DryRun && f.LogPath != "" && filepath.Base(dir) == strconv.FormatInt(f.ID, 10) {
			_ = os.Remove(dir)
		}
	}
	slices.Sort(r.Errors)
	return r, nil
}

// ParseBefore reads clean --before: a duration back from now (7d, 12h)
// or a date (2026-12-01, local midnight) or an RFC 3339 time.
func ParseBefore(s string, now time.Time) (time.Time, error) {
	if d, err := units.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, now.Location()); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want a duration (7d, 12h) or a date (2026-12-01)", s)
}
