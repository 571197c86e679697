package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// SchedulerOptions are the daemon's job settings, checked by the caller.
type SchedulerOptions struct {
	GPUs           string // inventory spec (jobs.OpenInventory)
	JobUnits       string // jobs.UnitsFor mode
	WandbDir       string // where jobs' offline runs go
	CPUSlots       int
	SampleInterval time.Duration
	Self           string // the runner executable job supervisors re-exec
	Now            func() time.Time
	Getenv         func(string) string
	OnJobEnd       string   // --on-job-end: a shell command after each job's end
	Environ        []string // the daemon's environment, for the end hooks
}

// NewScheduler builds the daemon's job scheduler on db and wires it to the
// sync engine: runs of a queued or running job are not complete, and a
// job's end makes its runs ready at once. closeInv releases the inventory.
// A bad GPU spec or units mode is jobs.ErrBadGPUSpec or jobs.ErrBadUnitsMode.
func NewScheduler(ctx context.Context, db *ledger.DB, eng *runsync.Engine, o SchedulerOptions, logger *slog.Logger) (s *jobs.Scheduler, closeInv func(), err error) {
	inv, err := jobs.OpenInventory(o.GPUs, logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: GPU inventory: %w", err)
	}
	wandbDir, err := filepath.Abs(o.WandbDir)
	if err != nil {
		inv.Close()
		return nil, nil, fmt.Errorf("daemon: --jobs-wandb-dir: %w", err)
	}
	// Whoever may write the ledger may submit, so may poke.
	mode := os.FileMode(0o600)
	if st, err := os.Stat(db.Path()); err == nil {
		mode = st.Mode().Perm() & 0o660
	}
	units, err := jobs.UnitsFor(o.JobUnits, o.Getenv, os.Getuid(), exec.LookPath)
	if err != nil {
		inv.Close()
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	eng.JobActive = JobActive(db, logger)
	s = &jobs.Scheduler{
		Store: db, Inv: inv, Self: o.Self, StateDir: filepath.Dir(db.Path()), WandbDir: wandbDir,
		Logger: logger.With("component", "jobs"), Now: o.Now, SampleInterval: o.SampleInterval, SockMode: mode, Units: units,
		RunAsOwner: os.Geteuid() == 0, CPUSlots: o.CPUSlots,
		OnJobEnd: func(runID string) { JobRunsEnded(ctx, db, eng, wandbDir, runID, logger) },
	}
	hooks := &jobs.EndHooks{OnJobEnd: o.OnJobEnd, Environ: o.Environ, RunAsOwner: s.RunAsOwner, Logger: s.Logger}
	s.EndHook = hooks.Run
	return s, func() { inv.Close() }, nil
}
