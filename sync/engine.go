package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/runnerhq/runner/internal/guard"
	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/proc"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
)

// Defaults for the engine's tunables (docs/design.md "Readiness", "Upload workers", "Leases").
const (
	DefaultSettle      = 10 * time.Minute
	DefaultQuiet       = 10 * time.Second
	DefaultMaxAttempts = 8
	DefaultConcurrency = 2
	// DefaultBatch is the most run dirs in one wandb sync call. Each call
	// pays the CLI's start-up (seconds) and syncs up to 5 runs at once, so
	// a backlog goes fastest in few large calls (docs/design.md "Batched
	// uploads").
	DefaultBatch       = 64
	DefaultBackoffBase = 30 * time.Second
	DefaultBackoffMax  = time.Hour
	// DefaultLease is how long an upload claim lasts without renewal; the
	// uploader renews it every third of that while wandb sync runs.
	DefaultLease = time.Minute
)

// Store is what the engine needs from the ledger.
type Store interface {
	RunStats(ctx context.Context) (map[string]ledger.FileStat, error)
	UpsertRuns(ctx context.Context, obs []ledger.Observation) ([]ledger.Run, error)
	GetRun(ctx context.Context, dir string) (ledger.Run, error)
	ListRuns(ctx context.Context, f ledger.Filter) ([]ledger.Run, error)
	MarkReadyMany(ctx context.Context, marks []ledger.ReadyMark) ([]string, error)
	MarkMissing(ctx context.Context, dir string) error
	MarkMissingMany(ctx context.Context, dirs []string) ([]string, error)
	ClaimBatch(ctx context.Context, owner string, lease time.Duration, only []string, maxDirs int) ([][]ledger.Run, error)
	SyncedSiblings(ctx context.Context, groupKey string) ([]ledger.Run, error)
	ExtendLease(ctx context.Context, owner string, dirs []string, lease time.Duration) error
	Complete(ctx context.Context, owner string, dirs []string, r ledger.Result) error
	Release(ctx context.Context, owner string, dirs []string) error
	RescueExpired(ctx context.Context) (int, error)
	RescueDead(ctx context.Context, gone func(owner string) bool) (int, error)
	ReadAgainWith(ctx context.Context, reader string) (int, error)
	NextAttempt(ctx context.Context, since time.Time) (time.Time, bool, error)
	PendingDue(ctx context.Context) (int, error)
	AddEvent(ctx context.Context, kind, subject, msg string) error
	PauseUploads(ctx context.Context, p ledger.Pause) error
	UploadsPaused(ctx context.Context, scopes []string) (ledger.Pause, bool, error)
}

var _ Store = (*ledger.DB)(nil)

// EngineOptions configure an Engine; NewEngine fills in the zero fields
// with the defaults above.
type EngineOptions struct {
	Store    Store
	Uploader Syncer
	Logger   *slog.Logger
	Now      func() time.Time

	Settle time.Duration // no growth for this long (by mtime) and nobody holds the file open: ready
	Quiet  time.Duration // exit record seen and no growth for this long: ready
	// ActiveEvery is how often a growing active run is read and recorded
	// at most (docs/design.md "Observing active runs"); 0: DefaultActiveEvery.
	ActiveEvery time.Duration
	MaxAttempts int
	// Batch is the most run dirs handed to one wandb sync call
	// (DefaultBatch); 1 uploads one group per call.
	Batch  int
	Lease  time.Duration // upload lease; must exceed the upload timeout + grace
	Owner  string        // lease owner id: host:pid:random
	TmpDir string        // repaired copies go here
	// AllowForeign: runs owned by other users are uploaded as runner's own
	// user when it cannot switch to theirs (owner.For).
	AllowForeign bool
	BackoffBase  time.Duration
	BackoffMax   time.Duration

	// HeldOpen reports whether a process runner can see holds path open.
	HeldOpen func(path string) bool
	// OtherHosts: runs are written by other hosts (a shared file system,
	// runner daemon --poll), whose processes HeldOpen cannot see, so the
	// settle rule is off (docs/design.md "Readiness").
	OtherHosts bool
	// JobActive reports whether the job that owns a run (by run id) is still
	// queued or running; nil when the scheduler is not wired in.
	JobActive func(ctx context.Context, runID string) bool
	// ReadLog reads a log into ledger metadata (ReadMeta by default).
	ReadLog func(path string) (*ledger.Meta, error)
	// OnReady, when set, is called after a run moved to pending (the
	// daemon evaluates it for regressions); it must not block for long.
	OnReady func(ctx context.Context, run ledger.Run)
}

// Engine is the sync pipeline: it turns discovered run dirs into ledger rows,
// decides when a run is ready, and uploads ready runs through a Syncer. The
// daemon runs it continuously; backfill and `runner sync` run it once. Make
// one with NewEngine; the hooks (JobActive, OnReady) may be set before use.
type Engine struct {
	EngineOptions

	wake    chan struct{}
	wakeups atomic.Int64
	busy    atomic.Int32 // upload workers in a call

	// reads remembers how long the last read of each large log took, so a
	// big log that keeps growing is re-read at most every 10x that, not on
	// every write (each read is from the start).
	growing growingReads // the default ReadLog: incremental reads of growing logs
	readsMu gosync.Mutex
	reads   map[string]lastRead
	held    map[string]time.Time // logs found held open, and when
	// observed is when each active run was last read and recorded; a
	// change within ActiveEvery of it waits (grewRecently).
	observed map[string]observation
	warned   map[string]bool // run dirs and markers found hostile, reported once (reportOnce)

	activeMu gosync.Mutex
	active   activeSet // the readiness loop's active runs (CheckAllActive)
}

// heldOpenEvery is how often a settled log found held open is looked at
// again: the check walks every process's open files.
const heldOpenEvery = 30 * time.Second

// heldOpen is HeldOpen, remembering a "held" answer for heldOpenEvery so a
// long quiet phase of a live job (evaluation, checkpointing) does not scan
// /proc on every tick.
func (e *Engine) heldOpen(path string, now time.Time) bool {
	e.readsMu.Lock()
	at, ok := e.held[path]
	e.readsMu.Unlock()
	if ok && now.Sub(at) < heldOpenEvery {
		return true
	}
	held := e.HeldOpen(path)
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	if !held {
		delete(e.held, path)
		return false
	}
	if e.held == nil {
		e.held = map[string]time.Time{}
	}
	e.held[path] = now
	return true
}

type lastRead struct {
	at   time.Time
	took time.Duration
}

// DefaultActiveEvery is how often a growing active run is read and
// recorded at most. It bounds how stale `runner runs` shows a growing run
// (size, history); it does not bound readiness, which is judged from the
// readiness loop's stat: a run that stopped is read and recorded once its
// window may have passed, whatever the schedule (grewRecently).
const DefaultActiveEvery = 5 * time.Second

// observation is when an active run was last read and recorded, and its
// log's size then.
type observation struct {
	at   time.Time
	size int64
}

// grewRecently reports whether d is an active run that only grew since it
// was read and recorded less than ActiveEvery ago: it is looked at again
// once that passed, with whatever it wrote meanwhile (the read is
// incremental). Anything else (a new run, a marker, a log that shrank or
// was only touched, a log that has not changed for the settle window and
// so may be ready now) is looked at now.
func (e *Engine) grewRecently(d RunDir, now time.Time) bool {
	if d.Marker || !d.MTime.IsZero() && now.Sub(d.MTime) >= e.Settle {
		return false
	}
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	o, ok := e.observed[d.Dir]
	return ok && d.Size > o.size && !now.Before(o.at) && sameSlot(o.at, now, e.ActiveEvery)
}

// sameSlot reports whether a and b fall in the same ActiveEvery slot of
// the wall clock. The schedule is slots, not ActiveEvery after each run's
// own last read, so every growing run falls due in the same pass of the
// readiness loop and is recorded in one transaction per slot, not one per
// pass with the few that fell due in it (docs/design.md "Observing active
// runs"). A row is still at most one slot old.
func sameSlot(a, b time.Time, every time.Duration) bool {
	return a.Truncate(every).Equal(b.Truncate(every))
}

// LookNow lifts the schedule for dirs: their next observation reads them
// whenever it comes (a job's end makes its runs ready at once).
func (e *Engine) LookNow(dirs ...string) {
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	for _, d := range dirs {
		delete(e.observed, d)
	}
}

// noteObserved remembers that dir was read and recorded as active at now;
// entries older than the window are dropped as the map grows.
func (e *Engine) noteObserved(d RunDir, now time.Time) {
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	if e.observed == nil {
		e.observed = map[string]observation{}
	}
	if len(e.observed) >= 1024 {
		for dir, o := range e.observed {
			if now.Sub(o.at) >= e.ActiveEvery {
				delete(e.observed, dir)
			}
		}
	}
	e.observed[d.Dir] = observation{at: now, size: d.Size}
}

// rereadThreshold is the read time below which a log is always re-read.
const rereadThreshold = 50 * time.Millisecond

// throttled reports whether dir's log was read too recently to read again.
func (e *Engine) throttled(dir string, now time.Time) bool {
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	lr, ok := e.reads[dir]
	return ok && now.Sub(lr.at) < min(10*lr.took, time.Minute)
}

func (e *Engine) noteRead(dir string, at time.Time, took time.Duration) {
	e.readsMu.Lock()
	defer e.readsMu.Unlock()
	if took < rereadThreshold {
		delete(e.reads, dir)
		return
	}
	if e.reads == nil {
		e.reads = map[string]lastRead{}
	}
	e.reads[dir] = lastRead{at: at, took: took}
}

// NewEngine returns an Engine with o's zero fields set to the defaults.
func NewEngine(o EngineOptions) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultQuiet
	}
	if o.ActiveEvery == 0 {
		o.ActiveEvery = DefaultActiveEvery
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Owner == "" {
		o.Owner = newOwner()
	}
	if o.TmpDir == "" {
		o.TmpDir = os.TempDir()
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.HeldOpen == nil {
		o.HeldOpen = HeldOpen
	}
	e := &Engine{EngineOptions: o, wake: make(chan struct{}, 1)}
	if e.ReadLog == nil {
		e.growing.now = e.Now
		e.ReadLog = e.growing.read
	}
	return e
}

// Wake returns a channel that receives when new work may be claimable.
func (e *Engine) Wake() <-chan struct{} {
	return e.wake
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Observe is the one "observe, then judge readiness" step, used by the
// daemon's discovery, backfill, `runner sync` and a job's end
// (docs/design.md "Readiness"): it re-reads a log only when its size or
// mtime changed since the ledger last saw it (known may be nil: then each
// dir is looked up), records what it saw, and moves the runs that are
// finished to pending. It returns the recorded rows and how many became
// ready.
func (e *Engine) Observe(ctx context.Context, dirs []RunDir, known map[string]ledger.FileStat) ([]ledger.Run, int, error) {
	obs, err := e.Prepare(ctx, dirs, known)
	if err != nil || len(obs) == 0 {
		return nil, 0, err
	}
	return e.Record(ctx, obs)
}

// Record is Observe's writing half, for observations Prepare made (a
// backfill reads the next batch while this records the last one).
func (e *Engine) Record(ctx context.Context, obs []ledger.Observation) ([]ledger.Run, int, error) {
	rows, err := e.Store.UpsertRuns(ctx, obs)
	if err != nil {
		return nil, 0, err
	}
	e.trackActive(rows)
	// The rows carry the size and mtime just seen: no need to stat again.
	n, err := e.MarkFinished(ctx, rows)
	return rows, n, err
}

// ReadAgain makes the runs an older reader skipped as unreadable be read
// again by this one (ledger.DB.ReadAgainWith); the daemon calls it at start
// and a backfill before it scans.
func (e *Engine) ReadAgain(ctx context.Context) error {
	n, err := e.Store.ReadAgainWith(ctx, wandbfile.ReaderVersion)
	if n > 0 {
		e.Logger.Info("a new .wandb reader: reading the runs skipped as unreadable again", "runs", n, "reader", wandbfile.ReaderVersion)
	}
	return err
}

// Prepare is Observe's reading half: it reads the logs that changed and
// returns the observations to record. It writes nothing, so a backfill reads
// the next batch while the ledger records the last one.
func (e *Engine) Prepare(ctx context.Context, dirs []RunDir, known map[string]ledger.FileStat) ([]ledger.Observation, error) {
	obs := make([]ledger.Observation, 0, len(dirs))
	for _, d := range dirs {
		if d.LogPath == "" {
			continue // no log yet: nothing to record until wandb creates it
		}
		if e.grewRecently(d, e.Now()) {
			// A run that grows is looked at on a schedule, not on each
			// write: no ledger read, no log read, no write until then.
			continue
		}
		o := ledger.Observation{Dir: d.Dir, LogPath: d.LogPath, Size: d.Size, MTime: d.MTime, MarkerExists: d.Marker}
		var prev ledger.FileStat
		var seen bool
		if known != nil {
			prev, seen = known[d.Dir]
		} else if r, err := e.Store.GetRun(ctx, d.Dir); err == nil {
			prev, seen = ledger.FileStat{Size: r.Size, MTime: r.MTime, State: r.State}, true
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return nil, err
		}
		o.Known = seen
		if !seen || !SameFile(prev, d) {
			if seen && prev.Size == d.Size {
				// Only the mtime moved (a touch, a copy keeping sizes): a log
				// only grows, so the same size is the same content. Record the
				// new mtime (the quiet-period clock) without reading it again.
				obs = append(obs, o)
				continue
			}
			if seen && prev.State == ledger.StateActive && e.throttled(d.Dir, e.Now()) {
				continue // still growing; read again once the window passed
			}
			t0 := time.Now()
			m, err := e.readLog(ctx, d.LogPath)
			e.noteRead(d.Dir, e.Now(), time.Since(t0))
			var unsupported *wandbfile.UnsupportedVersionError
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case errors.Is(err, wandbfile.ErrNotRegular):
				e.notRegular(ctx, d.Dir, err)
				continue
			case errors.Is(err, wandbfile.ErrNotWandb) || errors.As(err, &unsupported):
				// Not a .wandb log we can read at all: record it so it is
				// visible, as skipped with the reason.
				why := "not a .wandb log (foreign header)"
				switch {
				case unsupported != nil:
					why = fmt.Sprintf("unsupported .wandb format version %d (a newer wandb? read again when the file changes or runner is upgraded)", unsupported.Version)
				case d.Size == 0:
					why = "empty file (0 bytes)"
				case d.Size < 7:
					why = "too short for a .wandb header"
				}
				level := slog.LevelWarn
				if d.Size < 7 {
					// Caught as wandb creates it: nothing is wrong yet,
					// and it is read again when it changes.
					level = slog.LevelDebug
				}
				e.Logger.Log(ctx, level, "not a readable .wandb log", "path", d.LogPath, "why", why)
				m = &ledger.Meta{Empty: true, ReadError: why}
			case err != nil:
				// An I/O error (permissions, too many open files): say so
				// and look again on the next pass; a run is never given up
				// for a read that may succeed later.
				e.Logger.Warn("cannot read run log; will retry", "path", d.LogPath, "err", err)
				continue
			}
			o.Meta = m
			if (!seen || prev.State == ledger.StateActive) && m.ReadError == "" && !m.Empty && !m.Finished && !m.Footer {
				e.noteObserved(d, e.Now())
			}
		}
		obs = append(obs, o)
	}
	return obs, nil
}

// readLog is ReadLog (ReadMeta by default) that gives up waiting when ctx
// ends: a read stuck in the kernel (a hung network mount) cannot be
// interrupted, so it is abandoned to finish or hang on its own, and the
// caller (the daemon's loop, a backfill on SIGTERM) goes on. A read still
// going after slowReadWarn is logged once: it is usually such a mount.
func (e *Engine) readLog(ctx context.Context, path string) (*ledger.Meta, error) {
	type result struct {
		m   *ledger.Meta
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned reader never blocks
	go func() {
		m, err := e.ReadLog(path)
		done <- result{m, err}
	}()
	slow := time.NewTimer(slowReadWarn)
	defer slow.Stop()
	for {
		select {
		case r := <-done:
			return r.m, r.err
		case <-slow.C:
			e.Logger.Warn("reading a run log is taking long (a hung mount?)", "path", path, "waited", slowReadWarn)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// slowReadWarn: a log read at 300 MB/s would be 18 GB by then.
const slowReadWarn = time.Minute

// notRegular records, once per run dir, that its log is not a regular file:
// a warning and an error event (`runner status` shows it). The run keeps its
// state and row; it is looked at again on each pass, without opening the file,
// and picked up if a regular log comes back.
func (e *Engine) notRegular(ctx context.Context, dir string, err error) {
	e.reportOnce(ctx, dir, dir, "run log is not a regular file: not read", "run log not read", err)
}

// reportOnce logs a hostile-file finding about key once per process, as a
// warning and an `error` event on subject that `runner status` shows.
func (e *Engine) reportOnce(ctx context.Context, key, subject, msg, event string, err error) {
	e.readsMu.Lock()
	if e.warned == nil {
		e.warned = map[string]bool{}
	}
	seen := e.warned[key]
	e.warned[key] = true
	e.readsMu.Unlock()
	if seen {
		return
	}
	e.Logger.Warn(msg, "subject", subject, "err", err)
	if aerr := e.Store.AddEvent(ctx, "error", subject, event+": "+err.Error()); aerr != nil && ctx.Err() == nil {
		e.Logger.Warn("record event", "subject", subject, "err", aerr)
	}
}

// SameFile reports whether a log still has the size and mtime the ledger
// recorded (which keeps milliseconds): then it need not be read again.
func SameFile(prev ledger.FileStat, d RunDir) bool {
	return prev.Size == d.Size && prev.MTime.UnixMilli() == d.MTime.UnixMilli()
}

// ReadMeta reads a .wandb log into the ledger's metadata.
// It also summarises every history key while streaming (memory grows with
// the number of keys, not rows) into Meta.Metrics.
func ReadMeta(logPath string) (*ledger.Meta, error) {
	var m metaReader
	meta, _, err := m.read(logPath)
	return meta, err
}

// MetaFromInfo converts the reader's report into ledger metadata.
func MetaFromInfo(in *wandbfile.Info) *ledger.Meta {
	m := &ledger.Meta{
		RunID: in.RunID, Entity: in.Entity, Project: in.Project, Name: in.Name,
		Group: in.Group, JobType: in.JobType, Tags: in.Tags, WandbVersion: in.WandbVersion,
		Finished: in.Finished, Footer: in.Footer, ExitCode: in.ExitCode, RuntimeS: in.RuntimeS,
		TornTail: in.TornTail, HistoryRows: in.HistoryRows, HistoryKeys: in.HistoryKeys,
		GoodOffset: in.GoodOffset, Empty: in.Empty(),
	}
	if !in.StartTime.IsZero() {
		t := in.StartTime.UTC()
		m.StartTime = &t
	}
	if in.Err != nil {
		m.ReadError = in.Err.Error()
	}
	m.RecordsJSON = mustJSON(in.Records)
	m.SummaryJSON = mustJSON(in.Summary)
	m.ConfigJSON = mustJSON(in.Config)
	return m
}

func mustJSON(v any) string {
	b, err := wandbfile.MarshalValue(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// Readiness says whether an active run is finished, and why (docs/design.md "Readiness").
func (e *Engine) Readiness(ctx context.Context, r ledger.Run, now time.Time) (bool, string) {
	if r.State != ledger.StateActive {
		return false, ""
	}
	idle := now.Sub(r.MTime)
	switch {
	case r.Footer:
		return true, "footer record"
	case r.Finished && idle >= e.Quiet:
		return true, fmt.Sprintf("exit record and no growth for %s", e.Quiet)
	case r.Finished:
		return false, "exit record seen, in its quiet period (--quiet)"
	}
	if e.JobActive != nil && r.RunID != "" && r.JobID != nil {
		if !e.JobActive(ctx, r.RunID) {
			return true, "the job that wrote it ended"
		}
		return false, "its job is still running"
	}
	if e.OtherHosts {
		return false, "no exit record; on a shared file system (--poll) only an exit record, a footer or its job's end makes it ready"
	}
	if idle < e.Settle {
		return false, "no exit record, still growing or not settled (--settle)"
	}
	if e.heldOpen(r.LogPath, now) {
		return false, "no exit record, held open by a process"
	}
	return true, fmt.Sprintf("no growth for %s and no process holds it open", e.Settle)
}

// CheckReady re-stats the given active runs, records growth, and moves the
// finished ones to pending. It returns how many became ready.
func (e *Engine) CheckReady(ctx context.Context, runs []ledger.Run) (int, error) {
	n, _, err := e.checkReady(ctx, runs)
	return n, err
}

// MarkVanished records that dirs vanished before upload, in one
// transaction (one each took minutes for a first backfill's thousands),
// and warns for each that moved; a dir that did not move had moved on
// meanwhile (another process uploaded or skipped it) or was never a run.
// The readiness check and the daemon's rescan and remove events use it.
func (e *Engine) MarkVanished(ctx context.Context, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	moved, err := e.Store.MarkMissingMany(ctx, dirs)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		e.untrack(dir)
	}
	for _, dir := range moved {
		e.Logger.Warn("run dir vanished before upload", "dir", dir)
	}
	return nil
}

// checkReady is CheckReady that also returns the earliest time one of the
// runs it left active may be ready (readyDue, by the stat just taken).
func (e *Engine) checkReady(ctx context.Context, runs []ledger.Run) (int, time.Time, error) {
	n := 0
	now := e.Now()
	var due time.Time
	var fresh []ledger.Run
	var changed []RunDir
	known := map[string]ledger.FileStat{}
	var vanished []string
	for _, r := range runs {
		if r.State != ledger.StateActive {
			continue
		}
		// Lstat: a log replaced by a symlink (to a FIFO, a device) is
		// looked at, never through.
		st, err := os.Lstat(r.LogPath)
		if errors.Is(err, os.ErrNotExist) {
			if _, derr := os.Lstat(r.Dir); errors.Is(derr, os.ErrNotExist) {
				vanished = append(vanished, r.Dir)
			}
			continue
		}
		if err != nil {
			e.Logger.Warn("cannot stat run log", "path", r.LogPath, "err", err)
			continue
		}
		if !st.Mode().IsRegular() {
			e.notRegular(ctx, r.Dir, &fs.PathError{Op: "lstat", Path: r.LogPath, Err: wandbfile.ErrNotRegular})
			continue
		}
		rd := RunDir{Dir: r.Dir, LogPath: r.LogPath, Size: st.Size(), MTime: st.ModTime(), Marker: e.marker(ctx, r.LogPath+".synced")}
		if at := e.readyDue(r, rd.MTime); at.After(now) && (due.IsZero() || at.Before(due)) {
			due = at
		}
		if !SameFile(ledger.FileStat{Size: r.Size, MTime: r.MTime}, rd) || rd.Marker {
			// Changed since recorded: read again and judged by Observe,
			// all in one pass (one transaction, not one per run).
			changed = append(changed, rd)
			known[r.Dir] = ledger.FileStat{Size: r.Size, MTime: r.MTime, State: r.State}
			continue
		}
		fresh = append(fresh, r)
	}
	if err := e.MarkVanished(ctx, vanished); err != nil {
		return n, due, err
	}
	// Runs that have not changed for the settle window may be ready now:
	// they go first, in their own transaction, so that a slot's growth of
	// every other run (sameSlot) does not hold their move up.
	settled, growing := splitSettled(changed, now, e.Settle)
	for _, batch := range [][]RunDir{settled, growing} {
		if len(batch) == 0 {
			continue
		}
		_, m, err := e.Observe(ctx, batch, known)
		if err != nil {
			return n, due, err
		}
		n += m
	}
	m, err := e.MarkFinished(ctx, fresh)
	return n + m, due, err
}

// splitSettled splits dirs into those whose log has not changed for settle
// and the others, each in dirs' order.
func splitSettled(dirs []RunDir, now time.Time, settle time.Duration) (settled, growing []RunDir) {
	for _, d := range dirs {
		if now.Sub(d.MTime) >= settle {
			settled = append(settled, d)
		} else {
			growing = append(growing, d)
		}
	}
	return settled, growing
}

// MarkFinished moves the active runs among rows (whose size and mtime are
// current) to pending when they are finished. It returns how many moved.
func (e *Engine) MarkFinished(ctx context.Context, rows []ledger.Run) (int, error) {
	now := e.Now()
	var marks []ledger.ReadyMark
	byDir := map[string]ledger.Run{}
	whys := map[string]string{}
	for _, r := range rows {
		if ok, why := e.Readiness(ctx, r, now); ok {
			marks = append(marks, ledger.ReadyMark{Dir: r.Dir, Why: why})
			byDir[r.Dir], whys[r.Dir] = r, why
		}
	}
	if len(marks) == 0 {
		return 0, nil
	}
	moved, err := e.Store.MarkReadyMany(ctx, marks)
	if err != nil {
		return 0, err
	}
	// A mark that moved nothing: another process moved the run on.
	for _, m := range marks {
		e.untrack(m.Dir)
	}
	for _, dir := range moved {
		r := byDir[dir]
		e.Logger.Info("run ready for upload", "dir", dir, "run_id", r.RunID, "why", whys[dir])
		if e.OnReady != nil {
			r.State = ledger.StatePending
			e.OnReady(ctx, r)
		}
	}
	if len(moved) > 0 {
		e.poke()
	}
	return len(moved), nil
}

// marker reports whether path is a .synced marker (rundir.Marker). A file
// by that name that is not one (a symlink, a FIFO, a hard link) is reported
// once, by name, as a warning and an error event; the run is not synced by it.
func (e *Engine) marker(ctx context.Context, path string) bool {
	ok, err := rundir.Marker(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return ok
	}
	e.reportOnce(ctx, path, filepath.Dir(path), "ignored .synced marker", "ignored .synced marker", err)
	return false
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// backoff is exponential with full jitter in [d/2, d): retries of many runs
// failing at once (W&B down) spread out instead of stampeding.
func (e *Engine) backoff(attempts int) time.Duration {
	d := e.BackoffBase
	for i := 1; i < attempts && d < e.BackoffMax; i++ {
		d *= 2
	}
	if d > e.BackoffMax {
		d = e.BackoffMax
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// OutcomeInterrupted is an upload stopped by shutdown (SIGTERM, Ctrl-C):
// its runs went back to pending untouched.
const OutcomeInterrupted = "interrupted"

// UploadOutcome is what one claimed group's upload came to.
type UploadOutcome struct {
	Dirs    []string
	RunID   string
	Outcome string
	URL     string
	Err     error
}

// UploadNext claims one ready group and uploads it, in a call of its own.
// ok is false when nothing was claimable (or uploads are paused).
func (e *Engine) UploadNext(ctx context.Context, only []string) (UploadOutcome, bool, error) {
	groups, err := e.claim(ctx, only, 1)
	if err != nil || len(groups) == 0 {
		return UploadOutcome{}, false, err
	}
	outs, err := e.upload(ctx, groups)
	var out UploadOutcome
	if len(outs) > 0 {
		out = outs[0]
	}
	return out, true, err
}

// UploadBatch claims ready groups for one batched call and uploads them;
// none claimed: nil. workers is how many callers upload side by side: the
// backlog is split between the idle ones (see share).
func (e *Engine) UploadBatch(ctx context.Context, only []string, workers int) ([]UploadOutcome, error) {
	groups, err := e.claim(ctx, only, e.share(ctx, workers))
	if err != nil || len(groups) == 0 {
		return nil, err
	}
	e.busy.Add(1)
	defer e.busy.Add(-1)
	return e.upload(ctx, groups)
}

// share is how many run dirs the next call takes: the runs due now split
// evenly between the workers that are not in a call, at most Batch. A
// backlog of 150 runs and 2 workers makes two calls of 75 (Batch allowing),
// not five of 32 of which the last runs alone (docs/design.md "Batched
// uploads").
func (e *Engine) share(ctx context.Context, workers int) int {
	if e.Batch <= 1 {
		return 1
	}
	due, err := e.Store.PendingDue(ctx)
	if err != nil || due <= 0 {
		return e.Batch // the claim itself will say
	}
	idle := max(workers-int(e.busy.Load()), 1)
	return min(e.Batch, max(1, (due+idle-1)/idle))
}

// claim leases the next ready groups, up to maxDirs run dirs (nil while
// uploads are paused or nothing is claimable).
func (e *Engine) claim(ctx context.Context, only []string, maxDirs int) ([][]ledger.Run, error) {
	if p, paused, err := e.Store.UploadsPaused(ctx, e.Scopes()); err != nil {
		return nil, err
	} else if paused {
		e.Logger.Debug("uploads paused", "scope", p.Scope, "reason", p.Reason)
		return nil, nil
	}
	return e.Store.ClaimBatch(ctx, e.Owner, e.Lease, only, maxDirs)
}

// newOwner names this process as a lease holder: host, pid and the
// process's start time (so a reused pid is not taken for it), and a random
// part for several engines in one process.
func newOwner() string {
	host, _ := os.Hostname()
	ticks, _ := proc.StartTicks(os.Getpid())
	return fmt.Sprintf("%s:%d:%d:%08x", host, os.Getpid(), ticks, rand.Uint32())
}

// DescribeOwner says who a lease or pause owner (newOwner's form) is, in
// words for status: "process 22391 on gpu-box". Other forms come back as given.
func DescribeOwner(owner string) string {
	parts := strings.Split(owner, ":")
	if len(parts) < 3 {
		return owner
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return owner
	}
	return "process " + parts[1] + " on " + parts[0]
}

// holderGone reports whether a lease owner is verifiably gone: a process on
// this host that no longer runs (same pid and start time). A holder on
// another host, or a name it cannot read, is never taken for gone: its
// lease expires instead (docs/design.md "Leases").
func holderGone(owner string) bool {
	parts := strings.Split(owner, ":")
	if len(parts) < 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid == os.Getpid() {
		return false
	}
	if len(parts) >= 4 {
		ticks, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return false
		}
		return !proc.Alive(pid, ticks)
	}
	// host:pid:random (before start times were recorded): gone only when
	// no process has the pid.
	_, err = proc.StartTicks(pid)
	return errors.Is(err, proc.ErrNotRunning)
}

// Rescue returns to pending the uploads whose lease expired, and at once
// those whose holder is verifiably gone (a crashed process on this host):
// after a crash and restart, uploads resume within seconds, not after the
// lease (docs/design.md "Leases").
func (e *Engine) Rescue(ctx context.Context) (int, error) {
	n, err := e.Store.RescueDead(ctx, holderGone)
	if err != nil {
		return n, err
	}
	m, err := e.Store.RescueExpired(ctx)
	if n+m > 0 {
		e.poke()
	}
	return n + m, err
}

// Scopes are the pause scopes this engine's uploads fall under (the
// uploader's, when it has them; else only the pause of all).
func (e *Engine) Scopes() []string {
	if s, ok := e.Uploader.(interface{ Scopes() []string }); ok {
		return s.Scopes()
	}
	return []string{ledger.ScopeAll}
}

// Poke wakes one idle upload worker: something this process did may have
// made a group claimable (uploads resumed, an expired lease rescued).
func (e *Engine) Poke() { e.poke() }

// upload uploads one group, or several groups in one batched call
// (docs/design.md "Batched uploads"), and records each group's outcome.
func (e *Engine) upload(ctx context.Context, groups [][]ledger.Run) (outs []UploadOutcome, err error) {
	started := e.Now()
	var calls []*callGroup
	defer func() {
		for _, g := range calls {
			g.cleanup()
		}
	}()
	// A group this call claimed and never recorded (an error, or shutdown
	// before its outcome was written) goes back to pending now, not after
	// its lease runs out.
	defer func() {
		if err != nil || ctx.Err() != nil {
			e.releaseLeft(context.WithoutCancel(ctx), groups)
		}
	}()
	for _, group := range groups {
		g, out, err := e.prepare(ctx, group, started, len(groups) == 1)
		if err != nil {
			return outs, err
		}
		if g == nil {
			outs = append(outs, out)
			continue
		}
		calls = append(calls, g)
	}
	// A call never mixes owners: it runs as one user.
	var byOwner [][]*callGroup
	for _, g := range calls {
		i := slices.IndexFunc(byOwner, func(b []*callGroup) bool { return b[0].as.UID == g.as.UID })
		if i < 0 {
			byOwner = append(byOwner, nil)
			i = len(byOwner) - 1
		}
		byOwner[i] = append(byOwner[i], g)
	}
	for _, b := range byOwner {
		o, err := e.callGroups(ctx, b, started)
		outs = append(outs, o...)
		if err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// releaseLeft hands back every group of groups still leased to this engine;
// a group already recorded (or taken over) is not, and is left alone.
func (e *Engine) releaseLeft(ctx context.Context, groups [][]ledger.Run) {
	for _, group := range groups {
		dirs := make([]string, len(group))
		for i, r := range group {
			dirs[i] = r.Dir
		}
		if err := e.Store.Release(ctx, e.Owner, dirs); err != nil && !errors.Is(err, ledger.ErrLeaseLost) {
			e.Logger.Error("release unrecorded upload", "dirs", dirs, "err", err)
		}
	}
}

// callGroups uploads the groups of one owner in one call and records each.
func (e *Engine) callGroups(ctx context.Context, calls []*callGroup, started time.Time) ([]UploadOutcome, error) {
	var outs []UploadOutcome
	var dirs, paths []string
	for _, g := range calls {
		dirs = append(dirs, g.dirs...)
		paths = append(paths, g.paths...)
	}
	res, lost := e.call(ctx, dirs, paths)
	if lost {
		// Another process owns the runs now; what this call did is its to judge.
		e.Logger.Error("upload lease lost; upload stopped", "dirs", dirs)
		for _, g := range calls {
			outs = append(outs, UploadOutcome{Dirs: g.dirs, RunID: g.runID, Outcome: res.Outcome,
				Err: fmt.Errorf("upload %s: lease lost during the upload", filepath.Base(g.dirs[0]))})
		}
		return outs, nil
	}
	bg := context.WithoutCancel(ctx)
	// Pause before the runs go back to pending, or another worker could
	// claim them again in between.
	if res.Pause {
		p := ledger.Pause{Scope: res.PauseScope, Reason: res.Err.Error(), Config: res.PauseConfig, By: e.Owner}
		if err := e.Store.PauseUploads(bg, p); err != nil {
			return outs, err
		}
		e.Logger.Error("uploads paused", "scope", p.Scope, "config", p.Config, "reason", p.Reason)
	}
	for _, g := range calls {
		out, err := e.finish(ctx, g, res, started)
		outs = append(outs, out)
		if err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// callGroup is one group's part of a wandb sync call.
type callGroup struct {
	runs     []ledger.Run
	dirs     []string // the group's run dirs (the lease)
	paths    []string // what the call gets: run dirs, repaired copies, synced siblings
	repaired []string // logs uploaded from a repaired copy: marked by runner on success
	runID    string
	as       owner.ID // the dirs' owner: the call runs as them
	cleanups []func() error
}

func (g *callGroup) cleanup() {
	for _, c := range g.cleanups {
		_ = c()
	}
}

// prepare gets a claimed group ready for a call. A group that needs no
// call (a dir vanished, somebody synced it by hand, a repair failed) is
// recorded at once: then it returns nil and the outcome. alone: the group is
// the call's only one, so a late fragment may bring its synced siblings.
func (e *Engine) prepare(ctx context.Context, group []ledger.Run, started time.Time, alone bool) (*callGroup, UploadOutcome, error) {
	g := &callGroup{runs: group, runID: group[0].RunID}
	for _, r := range group {
		g.dirs = append(g.dirs, r.Dir)
	}
	out := UploadOutcome{Dirs: g.dirs, RunID: g.runID}
	bg := context.WithoutCancel(ctx)

	// A dir that vanished is loud, never silent; the rest of its group waits.
	for _, r := range group {
		if _, err := os.Stat(r.LogPath); errors.Is(err, os.ErrNotExist) {
			if err := e.Store.Release(bg, e.Owner, g.dirs); err != nil {
				return nil, out, err
			}
			if err := e.Store.MarkMissing(ctx, r.Dir); err != nil && !errors.Is(err, ledger.ErrIllegalMove) {
				return nil, out, err
			}
			out.Outcome, out.Err = "missing", fmt.Errorf("upload %s: run dir vanished before upload", filepath.Base(r.Dir))
			return nil, out, nil
		}
	}
	// Every call goes to the dirs' owner (docs/design.md "Threat model"):
	// the dirs are opened without following a link a user planted, and a
	// group whose dirs belong to several users is not uploaded.
	for i, r := range group {
		id, err := dirOwner(r.Dir)
		if err == nil {
			id, err = owner.For(id.UID, id.GID, e.AllowForeign)
		}
		if err == nil && i > 0 && id.UID != g.as.UID {
			err = fmt.Errorf("%w: %s and %s", ErrMixedOwners, g.as, id)
		}
		if err != nil {
			res := ledger.Result{Outcome: ledger.OutcomeOther, Error: fmt.Sprintf("upload %s: %v", filepath.Base(r.Dir), err),
				StartedAt: started, CountAttempt: true, GiveUp: true, MaxAttempts: e.MaxAttempts}
			out.Outcome, out.Err = res.Outcome, errors.New(res.Error)
			e.Logger.Warn("upload refused", "dir", r.Dir, "err", err)
			return nil, out, e.Store.Complete(bg, e.Owner, g.dirs, res)
		}
		if i == 0 {
			g.as = id
		}
	}
	// Somebody ran `wandb sync` by hand before runner ever tried: nothing
	// to do. After a try of runner's own, a marker proves nothing (it may
	// have appeared during the call): the run goes up again.
	allMarked := true
	for _, r := range group {
		allMarked = allMarked && r.Attempts == 0 && e.marker(ctx, r.LogPath+".synced")
	}
	if allMarked {
		res := ledger.Result{Outcome: ledger.OutcomeSuccess, Source: ledger.SourceMarker, StartedAt: started, MaxAttempts: e.MaxAttempts}
		out.Outcome = ledger.OutcomeSuccess
		return nil, out, e.Store.Complete(bg, e.Owner, g.dirs, res)
	}

	// A later fragment of a run already on W&B goes up together with the
	// fragments synced before, in one call: a call with the new fragment
	// alone would replace the run's history. (ClaimBatch gives such a
	// group a call of its own.)
	call := group
	if k := group[0].GroupKey; alone && k != "" && k != group[0].Dir {
		sibs, err := e.Store.SyncedSiblings(ctx, k)
		if err != nil {
			return nil, out, err
		}
		for _, s := range sibs {
			if fileExists(s.LogPath) {
				call = append(call, s)
			}
		}
		if len(call) > len(group) {
			call = append([]ledger.Run(nil), call...)
			ledger.SortStages(call)
		}
	}

	// Killed runs (torn tail, or no exit record) and logs with a corrupt
	// chunk are uploaded from a repaired copy: the wandb CLI stops at a torn
	// or corrupt chunk, and the legacy CLI writes no marker for a log without
	// an exit record.
	for _, r := range call {
		if !r.TornTail && r.Finished && r.ReadError == "" {
			g.paths = append(g.paths, r.Dir)
			continue
		}
		dir, cleanup, err := Repair(g.as, r.Dir, r.LogPath, r.GoodOffset, e.TmpDir)
		if err != nil {
			g.cleanup()
			res := ledger.Result{Outcome: ledger.OutcomeOther, Error: fmt.Sprintf("repair %s: %v", filepath.Base(r.Dir), err),
				StartedAt: started, CountAttempt: true, NextAttemptAt: e.Now().Add(e.backoff(r.Attempts + 1)), MaxAttempts: e.MaxAttempts}
			out.Outcome, out.Err = res.Outcome, errors.New(res.Error)
			return nil, out, e.Store.Complete(bg, e.Owner, g.dirs, res)
		}
		g.cleanups = append(g.cleanups, cleanup)
		g.paths = append(g.paths, dir)
		g.repaired = append(g.repaired, r.LogPath)
	}
	return g, out, nil
}

// call runs wandb sync over paths while keeping the lease on dirs alive, so
// a slow upload is never taken over by another process; a crashed one
// expires and is rescued. A lease found lost (this process was stopped past
// its expiry, and another took the runs over) stops the upload at once:
// then lost is true.
func (e *Engine) call(ctx context.Context, dirs, paths []string) (res UploadResult, lost bool) {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	uctx, stopUpload := context.WithCancel(ctx)
	defer stopUpload()
	var leaseLost atomic.Bool
	go func() {
		t := time.NewTicker(e.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				err := e.Store.ExtendLease(lctx, e.Owner, dirs, e.Lease)
				switch {
				case errors.Is(err, ledger.ErrLeaseLost):
					leaseLost.Store(true)
					stopUpload()
					return
				case err != nil && lctx.Err() == nil:
					e.Logger.Warn("extend upload lease", "dirs", dirs, "err", err)
				}
			}
		}
	}()
	res = e.Uploader.Upload(uctx, paths)
	stop()
	return res, leaseLost.Load()
}

// finish records one group's outcome of a call. In a call of one group the
// call's verdict is the group's; in a batched call each group is judged by
// its own runs (UploadResult.Runs), and a group the call let down (an
// unlabelled error, a crash, a timeout) is retried alone, without counting
// an attempt.
func (e *Engine) finish(ctx context.Context, g *callGroup, res UploadResult, started time.Time) (UploadOutcome, error) {
	out := UploadOutcome{Dirs: g.dirs, RunID: g.runID}
	bg := context.WithoutCancel(ctx)
	outcome, pause, final, cerr, alone := res.Outcome, res.Pause, res.Final, res.Err, false
	if res.Runs != nil {
		outcome, final, cerr, alone = groupVerdict(g, res)
		pause = pause && alone // a run judged on its own is not paused for the call
		if alone && (res.Pause || res.Outcome == ledger.OutcomeTransient && !errors.Is(res.Err, ErrUploadTimeout)) {
			// Not the call's contents but W&B or the key: no reason to go
			// alone. (A call we stopped for its time may have hung on any
			// of its runs: those go alone.)
			outcome, alone = res.Outcome, false
		}
	}
	// Shutdown: the child was killed; the runs go back to pending untouched.
	// A success recorded just before is still kept.
	if ctx.Err() != nil && outcome != ledger.OutcomeSuccess {
		out.Outcome, out.Err = OutcomeInterrupted, errors.New("interrupted: back to pending")
		return out, e.Store.Release(bg, e.Owner, g.dirs)
	}
	// Every call counts as an attempt except an auth pause, which is not the
	// run's fault, and a batched call that let the run down. Only `other`
	// failures use up --max-attempts: network, rate limit and timeouts back
	// off (up to an hour) for as long as W&B is away.
	lr := ledger.Result{
		Outcome: outcome, URL: res.URL, ExitCode: res.ExitCode, OutputTail: res.Output,
		StartedAt: started, MaxAttempts: e.MaxAttempts, Source: ledger.SourceUpload,
		CountAttempt: !pause && !alone, GiveUp: final, Alone: alone,
	}
	if res.Runs != nil {
		lr.URL = ""
		for _, p := range g.paths {
			if u := res.Runs[p].URL; u != "" && lr.URL == "" {
				lr.URL = u
			}
		}
	}
	if outcome == ledger.OutcomeTransient {
		lr.MaxAttempts = 0
	}
	if outcome == ledger.OutcomeSuccess {
		for _, lp := range g.repaired {
			if err := MarkSynced(g.as, lp); err != nil {
				e.Logger.Warn("write synced marker", "path", lp, "err", err)
			}
		}
		if len(g.repaired) > 0 {
			lr.Source = ledger.SourceRepaired
		}
	} else {
		if cerr != nil {
			lr.Error = cerr.Error()
		}
		lr.NextAttemptAt = e.Now()
		if !pause && !alone {
			lr.NextAttemptAt = e.Now().Add(e.backoff(g.runs[0].Attempts + 1))
		}
	}
	if err := e.Store.Complete(bg, e.Owner, g.dirs, lr); err != nil {
		return out, err
	}
	out.Outcome, out.URL, out.Err = outcome, lr.URL, cerr
	if outcome == ledger.OutcomeSuccess {
		out.Err = nil
		e.Logger.Info("uploaded", "run_id", out.RunID, "dirs", g.dirs, "url", lr.URL, "took", res.Duration.Round(time.Millisecond))
	} else {
		e.Logger.Warn("upload failed", "run_id", out.RunID, "outcome", outcome, "err", cerr)
	}
	return out, nil
}

// groupVerdict judges one group of a batched call by its own runs: success
// when every one of its paths was verified; its own failure when the CLI
// named it in an error; otherwise the call let it down (alone).
func groupVerdict(g *callGroup, res UploadResult) (outcome string, final bool, err error, alone bool) {
	verified := true
	for _, p := range g.paths {
		r := res.Runs[p]
		if r.Err != nil {
			return r.Outcome, r.Final, fmt.Errorf("upload %s: %w", filepath.Base(g.dirs[0]), r.Err), false
		}
		verified = verified && r.Verified
	}
	if verified {
		return ledger.OutcomeSuccess, false, nil, false
	}
	cause := res.Err
	if cause == nil {
		cause = errors.New("wandb sync did not confirm this run")
	}
	return ledger.OutcomeOther, false, fmt.Errorf("upload %s: batched call: %w", filepath.Base(g.dirs[0]), cause), true
}

// DefaultPoll is how often an idle upload worker looks at the ledger when
// nothing told it to: for runs another process (a `runner backfill` without
// --upload) made pending. Everything in this process that makes a run
// claimable wakes the workers at once (docs/design.md "Upload workers").
const DefaultPoll = 30 * time.Second

// Work runs n upload workers until ctx is done. A worker claims and uploads
// groups until nothing is claimable, then sleeps until it is woken (a run
// became ready, uploads resumed, a lease was rescued), the earliest backoff
// runs out, or poll passes. Idle means no ledger calls in between: see
// docs/design.md "Upload workers". A failing ledger is retried with backoff
// and logged once a minute, never in a tight loop.
func (e *Engine) Work(ctx context.Context, n int, poll time.Duration, onDone func(UploadOutcome)) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	g := guard.New(e.Logger, "upload worker", guard.Options{Now: e.Now})
	var wg gosync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				e.wakeups.Add(1)
				claimed := e.Now()
				groups, err := e.claim(ctx, nil, e.share(ctx, n))
				var wait time.Duration
				switch {
				case err != nil && ctx.Err() != nil:
					return
				case err != nil:
					wait = g.Fail(err)
				case len(groups) > 0:
					g.OK()
					// More may be claimable: let one idle worker look while
					// this one uploads. A worker that finds nothing does
					// not pass the wake on, so idle workers never spin.
					e.poke()
					e.busy.Add(1)
					outs, err := e.upload(ctx, groups)
					e.busy.Add(-1)
					if err != nil && ctx.Err() != nil {
						e.Logger.Debug("upload ended by shutdown", "err", err)
					}
					if err != nil && ctx.Err() == nil {
						g.Fail(err)
					}
					if onDone != nil {
						for _, out := range outs {
							onDone(out)
						}
					}
					continue
				default:
					g.OK()
					wait = e.idleWait(ctx, poll, claimed)
				}
				if !sleep(ctx, wait, e.wake) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// idleWait is how long a worker that found nothing to claim at claimed
// sleeps: until the earliest backoff runs out, at most poll.
func (e *Engine) idleWait(ctx context.Context, poll time.Duration, claimed time.Time) time.Duration {
	next, ok, err := e.Store.NextAttempt(ctx, claimed)
	if err != nil || !ok {
		return poll // an error here shows again, and is handled, at the next claim
	}
	return min(max(next.Sub(e.Now()), 10*time.Millisecond), poll)
}

// sleep waits for d, a wake-up or the end of ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// Wakeups counts the upload workers' passes (each one a claim on the
// ledger): an idle daemon's count stays put.
func (e *Engine) Wakeups() int64 { return e.wakeups.Load() }

// Drain uploads until nothing is claimable (used by backfill and `runner
// sync`), with n parallel workers, and returns every outcome.
func (e *Engine) Drain(ctx context.Context, n int, only []string) ([]UploadOutcome, error) {
	return e.DrainEach(ctx, n, only, nil)
}

// DrainEach is Drain that also hands each outcome to onDone as it happens
// (`runner sync` prints a line per run as its upload ends). onDone is
// called from the workers, one at a time.
func (e *Engine) DrainEach(ctx context.Context, n int, only []string, onDone func(UploadOutcome)) ([]UploadOutcome, error) {
	var mu gosync.Mutex
	var outs []UploadOutcome
	var firstErr error
	var wg gosync.WaitGroup
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				got, err := e.UploadBatch(ctx, only, n)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				outs = append(outs, got...)
				if onDone != nil {
					for _, o := range got {
						onDone(o)
					}
				}
				mu.Unlock()
				if len(got) == 0 || err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return outs, firstErr
}
