package daemon

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// JobRunsEnded makes the runs a finished job wrote ready for upload now.
// Its run dirs under WANDB_DIR are observed first: the watcher may not have
// reported the last stage's dir yet.
func JobRunsEnded(ctx context.Context, db *ledger.DB, eng *runsync.Engine, wandbDir, runID string, logger *slog.Logger) {
	matches, _ := filepath.Glob(filepath.Join(wandbDir, "wandb", "offline-run-*-"+runID+"*"))
	var dirs []runsync.RunDir
	for _, m := range matches {
		rd, err := runsync.InspectRunDir(m)
		if err == nil && filepath.Base(rd.LogPath) == "run-"+runID+".wandb" {
			dirs = append(dirs, rd)
			eng.LookNow(rd.Dir)
		}
	}
	if _, _, err := eng.Observe(ctx, dirs, nil); err != nil && ctx.Err() == nil {
		logger.Error("record runs of an ended job", "run_id", runID, "err", err)
	}
	runs, err := db.ListRuns(ctx, ledger.Filter{RunID: runID})
	if err == nil {
		_, err = eng.CheckReady(ctx, runs)
	}
	if err != nil && ctx.Err() == nil {
		logger.Error("readiness of an ended job's runs", "run_id", runID, "err", err)
	}
}

// JobActive is the engine's JobActive hook: whether a job with the run id is
// still queued or running (a pipeline's stages go up together, after the last).
func JobActive(db *ledger.DB, logger *slog.Logger) func(ctx context.Context, runID string) bool {
	return func(ctx context.Context, runID string) bool {
		active, err := db.JobActiveForRun(ctx, runID)
		if err != nil {
			logger.Warn("job state of run", "run_id", runID, "err", err)
			return true // unknown: wait rather than upload half a pipeline
		}
		return active
	}
}
