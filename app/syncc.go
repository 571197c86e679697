package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

func syncCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		boolFlag("retry", "also take failed runs and reset their attempt count"),
		boolFlag("force", "upload the named runs now even if not finished (refused while a process holds the log open; a run without an exit record goes up from a repaired copy)"),
	}
	return &cli.Command{
		Name:      "sync",
		Usage:     "upload ready runs now, in the foreground (no RUN: every ready run)",
		ArgsUsage: "[RUN_ID|DIR ...]",
		Flags:     append(flags, uploadFlags()...),
		Action: func(c *cli.Context) error {
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				eng, err := newEngine(c, env, db, logger)
				if err != nil {
					return err
				}
				var tty io.Writer
				if env.IsTerminal != nil && env.IsTerminal(env.Stderr) {
					tty = env.Stderr
				}
				if c.Bool("force") && c.Args().Len() == 0 {
					return usagef("sync: --force needs the RUN_IDs or DIRs to upload")
				}
				return SyncNow(c.Context, env.Stdout, tty, db, eng, logger, SyncOptions{
					Selectors: c.Args().Slice(), Retry: c.Bool("retry"), Force: c.Bool("force"), Concurrency: c.Int("concurrency")})
			})
		},
	}
}

// SyncOptions are the inputs of `runner sync`.
type SyncOptions struct {
	Selectors   []string // run ids or dirs; none: every ready run
	Retry       bool     // also failed runs, attempts reset
	Force       bool     // the selected active runs now, finished or not
	Concurrency int
}

// SyncNow uploads the selected runs (or every ready run) in the foreground and
// reports each outcome. It fails when any selected run could not be uploaded.
//
// tty, when not nil, is the terminal a progress bar is drawn on.
func SyncNow(ctx context.Context, w, tty io.Writer, db *ledger.DB, eng *runsync.Engine, logger *slog.Logger, o SyncOptions) error {
	selectors, retry, concurrency := o.Selectors, o.Retry, o.Concurrency
	// Runs a crashed uploader leased are ours again once the lease expired.
	if _, err := eng.Rescue(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	var dirs []string
	problems := 0
	for _, sel := range selectors {
		// A dir runner has not seen yet is recorded first.
		if st, err := os.Stat(sel); err == nil && st.IsDir() {
			if rd, err := runsync.InspectRunDir(sel); err == nil && rd.LogPath != "" {
				if _, _, err := eng.Observe(ctx, []runsync.RunDir{rd}, nil); err != nil {
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
			if rd, ierr := runsync.InspectRunDir(r.Dir); ierr == nil && rd.LogPath != "" {
				if _, _, oerr := eng.Observe(ctx, []runsync.RunDir{rd}, nil); oerr != nil {
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
	if len(selectors) > 0 && len(dirs) == 0 {
		return fmt.Errorf("sync: none of %d selected runs is in the ledger", len(selectors))
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
			if runsync.HeldOpen(r.LogPath) {
				fmt.Fprintf(w, "%s: not forced: a process holds %s open (still being written)\n", dash(r.RunID), filepath.Base(r.LogPath))
				problems++
				continue
			}
			if err := db.Force(ctx, d); err != nil {
				return fmt.Errorf("sync --force %s: %w", d, err)
			}
		}
	}
	if retry {
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
	report := newUploadReport(w, tty)
	report.start(len(expedite))
	outs, err := eng.DrainEach(ctx, concurrency, dirs, report.add)
	uploaded := map[string]bool{}
	for _, o := range outs {
		for _, d := range o.Dirs {
			uploaded[d] = true
		}
		if o.Outcome != ledger.OutcomeSuccess {
			problems++
		}
	}
	if ctx.Err() != nil {
		left, _ := db.PendingDue(context.WithoutCancel(ctx))
		report.finish(true, left)
		return ctx.Err()
	}
	report.finish(false, 0)
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
			fmt.Fprintf(w, "%s: already synced %s\n", dash(r.RunID), r.URL)
			continue
		}
		problems++
		fmt.Fprintf(w, "%s: not uploaded: %s\n", dash(r.RunID), notUploadedReason(r))
	}
	if p, paused, err := db.UploadsPaused(ctx, eng.Scopes()); err == nil && paused {
		fmt.Fprintf(w, "uploads paused for %s: %s\n", p.Config, p.Reason)
		problems++
	}
	if len(outs) == 0 && len(selectors) == 0 {
		fmt.Fprintln(w, "nothing ready to upload")
	}
	if problems > 0 {
		return ErrFailed
	}
	return nil
}

func notUploadedReason(r ledger.Run) string {
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
