package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

// NowStore is what an upload in the foreground needs from the ledger
// beyond the engine's own Store.
type NowStore interface {
	Resolve(ctx context.Context, sel string) ([]ledger.Run, error)
	GetRun(ctx context.Context, dir string) (ledger.Run, error)
	ListRuns(ctx context.Context, f ledger.Filter) ([]ledger.Run, error)
	UploadsPaused(ctx context.Context, scopes []string) (ledger.Pause, bool, error)
	ResumeUploads(ctx context.Context, scopes []string) error
	Force(ctx context.Context, dir string) error
	Retry(ctx context.Context, dirs []string) ([]string, error)
	ExpediteAll(ctx context.Context, dirs []string) (int, error)
	PendingDue(ctx context.Context) (int, error)
}

var _ NowStore = (*ledger.DB)(nil)

// Progress follows the upload phase of Now: Start with the number of runs
// expected, Add per outcome as it ends, Finish once (interrupted, and how
// many were left due).
type Progress interface {
	Start(total int)
	Add(o UploadOutcome)
	Finish(interrupted bool, left int)
}

// NowOptions are the inputs of an upload in the foreground (`runner sync`).
type NowOptions struct {
	Selectors   []string // run ids or dirs; none: every ready run
	Retry       bool     // also failed runs, attempts reset
	Force       bool     // the selected active runs now, finished or not
	Concurrency int
	Out         io.Writer // one line per selector or run that needs a word
	Progress    Progress
}

// ErrIncomplete is Now's answer when a selected run was not uploaded; what
// and why was already written to NowOptions.Out.
var ErrIncomplete = errors.New("not every selected run was uploaded")

// Now uploads the selected runs (or every ready run) in the foreground and
// reports each outcome: a person asked for now, so the backoff wait and the
// pauses of its own configuration are lifted.
func Now(ctx context.Context, db NowStore, eng *Engine, o NowOptions) error {
	w := o.Out
	// Runs a crashed uploader leased are ours again once the lease expired.
	if _, err := eng.Rescue(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	var dirs []string
	problems := 0
	for _, sel := range o.Selectors {
		// A dir runner has not seen yet is recorded first.
		if st, err := os.Stat(sel); err == nil && st.IsDir() {
			if rd, err := InspectRunDir(sel); err == nil && rd.LogPath != "" {
				if _, _, err := eng.Observe(ctx, []RunDir{rd}, nil); err != nil {
					return fmt.Errorf("sync %s: %w", sel, err)
				}
				sel = rd.Dir
			}
		}
		runs, err := db.Resolve(ctx, sel)
		// A missing run whose dir is back is observed again first.
		for _, r := range runs {
			if r.State != ledger.StateMissing {
				continue
			}
			if rd, ierr := InspectRunDir(r.Dir); ierr == nil && rd.LogPath != "" {
				if _, _, oerr := eng.Observe(ctx, []RunDir{rd}, nil); oerr != nil {
					return fmt.Errorf("sync %s: %w", sel, oerr)
				}
			}
		}
		if errors.Is(err, ledger.ErrNotFound) {
			fmt.Fprintf(w, "%s: not in the ledger (run `runner backfill DIR` first)\n", sel)
			problems++
			continue
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", sel, err)
		}
		for _, r := range runs {
			dirs = append(dirs, r.Dir)
		}
	}
	if len(o.Selectors) > 0 && len(dirs) == 0 {
		return fmt.Errorf("sync: none of %d selected runs is in the ledger", len(o.Selectors))
	}
	if _, paused, err := db.UploadsPaused(ctx, eng.Scopes()); err == nil && paused {
		// An explicit sync is how a person says "I fixed it, try again":
		// it lifts the pauses that hold its own configuration.
		if err := db.ResumeUploads(ctx, eng.Scopes()); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		fmt.Fprintln(w, "uploads were paused; resuming them for this sync")
	}
	if o.Force {
		for _, d := range dirs {
			r, err := db.GetRun(ctx, d)
			if err != nil || r.State != ledger.StateActive {
				continue // pending, synced...: sync handles it as it is
			}
			if HeldOpen(r.LogPath) {
				fmt.Fprintf(w, "%s: not forced: a process holds %s open (still being written)\n", safe.Dash(r.RunID), filepath.Base(r.LogPath))
				problems++
				continue
			}
			if err := db.Force(ctx, d); err != nil {
				return fmt.Errorf("sync --force %s: %w", d, err)
			}
		}
	}
	if o.Retry {
		if _, err := db.Retry(ctx, dirs); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	var selected []ledger.Run
	if len(dirs) > 0 {
		for _, d := range dirs {
			r, err := db.GetRun(ctx, d)
			if err != nil {
				return fmt.Errorf("sync %s: %w", d, err)
			}
			selected = append(selected, r)
		}
	} else {
		act, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		selected = act
	}
	if _, err := eng.CheckReady(ctx, selected); err != nil {
		return fmt.Errorf("sync: readiness: %w", err)
	}
	// Skip the backoff wait: the user asked for now.
	pending, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StatePending})
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	var expedite []string
	for _, r := range pending {
		if len(dirs) == 0 || slices.Contains(dirs, r.Dir) {
			expedite = append(expedite, r.Dir)
		}
	}
	if len(expedite) > 0 {
		if _, err := db.ExpediteAll(ctx, expedite); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	o.Progress.Start(len(expedite))
	outs, err := eng.DrainEach(ctx, o.Concurrency, dirs, o.Progress.Add)
	uploaded := map[string]bool{}
	for _, out := range outs {
		for _, d := range out.Dirs {
			uploaded[d] = true
		}
		if out.Outcome != ledger.OutcomeSuccess {
			problems++
		}
	}
	if ctx.Err() != nil {
		left, _ := db.PendingDue(context.WithoutCancel(ctx))
		o.Progress.Finish(true, left)
		return ctx.Err()
	}
	o.Progress.Finish(false, 0)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	for _, d := range dirs {
		if uploaded[d] {
			continue
		}
		r, err := db.GetRun(ctx, d)
		if err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
		if r.State == ledger.StateSynced {
			fmt.Fprintf(w, "%s: already synced %s\n", safe.Dash(r.RunID), r.URL)
			continue
		}
		problems++
		fmt.Fprintf(w, "%s: not uploaded: %s\n", safe.Dash(r.RunID), NotUploadedReason(r))
	}
	if p, paused, err := db.UploadsPaused(ctx, eng.Scopes()); err == nil && paused {
		fmt.Fprintf(w, "uploads paused for %s: %s\n", p.Config, p.Reason)
		problems++
	}
	if len(outs) == 0 && len(o.Selectors) == 0 {
		fmt.Fprintln(w, "nothing ready to upload")
	}
	if problems > 0 {
		return ErrIncomplete
	}
	return nil
}

// NotUploadedReason says why a run that was asked for is not up yet.
func NotUploadedReason(r ledger.Run) string {
	switch r.State {
	case ledger.StateActive:
		return "still being written (active); it uploads once finished"
	case ledger.StateFailed:
		return "failed after max attempts; use --retry (last error: " + r.LastError + ")"
	case ledger.StateSkipped, ledger.StateMissing:
		return string(r.State) + ": " + r.Reason
	case ledger.StateUploading:
		return "being uploaded by another process"
	case ledger.StatePending:
		if r.LastError != "" {
			return "will retry: " + r.LastError
		}
		return "waiting for another stage of the same run"
	}
	return string(r.State)
}
