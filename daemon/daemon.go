// Package daemon is `runner daemon`'s lifecycle: discovery and recording of
// run dirs, readiness checks, upload workers, heartbeat, lease rescue, the
// systemd notifications and watchdog, and the services beside them (the job
// scheduler, regression checks, the metrics endpoint). The command line
// that builds a Daemon lives in app; the design is docs/design.md.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"

	"github.com/runnerhq/runner/internal/guard"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// HeartbeatInterval is ledger.HeartbeatInterval, where the rule that reads
// the beats (ledger.Daemon.Live) lives.
const HeartbeatInterval = ledger.HeartbeatInterval

// Up reports whether the ledger's daemon row d shows a live daemon
// (ledger.Daemon.Live).
func Up(d *ledger.Daemon, now time.Time) bool { return d.Live(now) }

// Daemon is `runner daemon`: discovery, readiness and upload loops around one ledger.
type Daemon struct {
	Version     string // recorded with the heartbeat
	DB          *ledger.DB
	Engine      *runsync.Engine
	Logger      *slog.Logger
	Roots       []string
	Upload      bool
	Concurrency int
	Reconcile   time.Duration
	// DirPoll: look for changed dirs this often (shared file systems, where
	// inotify sees no other host's writes); 0: off.
	DirPoll time.Duration
	KeyFile string // watched for changes to lift an auth pause
	Now     func() time.Time
	// Tick paces readiness checks of active runs (quiet period, settle).
	Tick time.Duration
	// Heartbeat is how often the daemon proves it is alive (HeartbeatInterval
	// when zero; tests shorten it).
	Heartbeat time.Duration
	// Poll is how often idle upload workers look for runs another process
	// made pending (runsync.DefaultPoll when zero).
	Poll time.Duration
	// CheckUploads, when set, checks at start what uploads need and returns
	// what is wrong ("" when fine); it logs its findings itself.
	CheckUploads func(ctx context.Context) string
	// JobUnits: the scheduler starts jobs as systemd units (recorded for
	// submit --mem).
	JobUnits bool
	// Executor and JobsWandbDir are recorded for runner submit (the
	// default executor, and an engine job's WANDB_DIR).
	Executor     ledger.Executor
	JobsWandbDir string
	// Services run beside the sync loops for the daemon's lifetime (the job
	// scheduler, the metrics endpoint). One that fails stops the daemon.
	Services []Service

	lastScan atomic.Int64  // unix ms when the last full scan of the trees ended; 0: none yet
	recorded chan struct{} // discovery recorded runs: readiness looks at once
}

// LastScan is when the last full scan of the watched trees completed (zero
// before the first): the metrics endpoint reports it.
func (d *Daemon) LastScan() time.Time {
	if v := d.lastScan.Load(); v != 0 {
		return time.UnixMilli(v)
	}
	return time.Time{}
}

// Service is a long-running part of the daemon; Run returns when ctx is done.
type Service interface {
	Run(ctx context.Context) error
}

// Run blocks until ctx is cancelled, then stops taking work, ends in-flight
// uploads (their runs go back to pending), marks the daemon down and returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	if d.Tick == 0 {
		d.Tick = time.Second
	}
	if d.Heartbeat == 0 {
		d.Heartbeat = HeartbeatInterval
	}
	bg := context.WithoutCancel(ctx)
	host, _ := os.Hostname()
	info := ledger.Daemon{PID: os.Getpid(), Host: host, Version: d.Version, StartedAt: d.Now().UTC(), Watch: d.Roots,
		UploadScopes: d.Engine.Scopes(), UploadsOff: !d.Upload, JobUnits: d.JobUnits,
		Executor: d.Executor, JobsWandbDir: d.JobsWandbDir}
	// Two daemons on one ledger would both place jobs on the same GPUs. The
	// lock is held for the daemon's life (the kernel drops it if the daemon
	// dies; the file is close-on-exec, so job supervisors never hold it).
	lock, err := Lock(lockPath(d.DB.Path()), LockWait)
	if err != nil {
		return fmt.Errorf("daemon: %w (ledger %s)", err, d.DB.Path())
	}
	defer lock.Close()
	if prev, err := d.DB.DaemonState(ctx); err != nil {
		return fmt.Errorf("daemon: %w", err)
	} else if Up(prev, d.Now()) && prev.Host == host && prev.PID != info.PID && syscall.Kill(prev.PID, 0) == nil {
		return fmt.Errorf("daemon: another runner daemon (pid %d) is running on ledger %s; stop it first", prev.PID, d.DB.Path())
	}
	// A damaged ledger is found now, with the way out, not as "malformed"
	// every few seconds later.
	if err := d.DB.QuickCheck(ctx); err != nil {
		return fmt.Errorf("daemon: %w: stop runner, then restore a backup (`runner backup` makes one) or move the file away "+
			"to start a new ledger (README \"Backup and restore\")", err)
	}
	if err := d.DB.Heartbeat(ctx, info); err != nil {
		return fmt.Errorf("daemon heartbeat: %w", err)
	}
	// STOPPING goes out as soon as shutdown begins (systemd then waits for
	// the exit instead of counting the stop as a crash), once.
	stopping := false
	notifyStopping := func() {
		if !stopping {
			stopping = true
			_, _ = sdaemon.SdNotify(false, sdaemon.SdNotifyStopping)
		}
	}
	defer func() {
		notifyStopping()
		if err := d.DB.DaemonDown(bg); err != nil {
			d.Logger.Error("mark daemon down", "err", err)
		}
		d.Logger.Info("daemon stopped")
	}()
	// A restart is the documented way to retry after fixing credentials:
	// it lifts the pauses that hold this daemon's configuration.
	if err := d.DB.ResumeUploads(ctx, d.Engine.Scopes()); err != nil {
		return fmt.Errorf("resume uploads: %w", err)
	}
	if err := d.Engine.ReadAgain(ctx); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if n, err := d.Engine.Rescue(ctx); err != nil {
		return fmt.Errorf("rescue expired uploads: %w", err)
	} else if n > 0 {
		d.Logger.Info("rescued uploads whose lease expired", "runs", n)
	}

	w, err := runsync.NewWatcher(d.Roots, runsync.WatchOptions{Active: d.Engine.ActiveEvery, Reconcile: d.Reconcile, Poll: d.DirPoll, Logger: d.Logger})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	// Every part runs in one errgroup: a part that fails (the watcher, a
	// service) ends them all, and Run returns its error; a cancelled
	// context ends them all too, and Run returns nil. The main loop, which
	// is not in the group, stops them through stop.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	g, gctx := errgroup.WithContext(ctx)
	// Discovered run dirs are recorded in batches by one goroutine: the
	// first scan of a tree with thousands of runs is then a few ledger
	// transactions, not one per run.
	found := make(chan recordItem, 1024)
	d.recorded = make(chan struct{}, 1)
	g.Go(func() error {
		d.record(gctx, found)
		return nil
	})
	g.Go(func() error {
		if err := w.Run(gctx, d.onRun(gctx, found), d.onRescan(gctx), d.onRemoved(gctx)); err != nil && gctx.Err() == nil {
			return fmt.Errorf("watch: %w", err)
		}
		return nil
	})
	if d.Upload {
		g.Go(func() error {
			d.Engine.Work(gctx, d.Concurrency, d.Poll, nil)
			return nil
		})
	}
	for _, s := range d.Services {
		g.Go(func() error {
			if err := s.Run(gctx); err != nil && gctx.Err() == nil {
				d.Logger.Error("daemon service failed", "err", err)
				return err
			}
			return nil
		})
	}
	d.Logger.Info("daemon started", "watch", d.Roots, "ledger", d.DB.Path(), "upload", d.Upload)
	// Check what uploads need (the CLI runs, a key is there), bounded in
	// time and beside the loops; the outcome goes to the log and, with the
	// next heartbeat, to `runner status`.
	problem := make(chan string, 1)
	if d.Upload && d.CheckUploads != nil {
		g.Go(func() error {
			problem <- d.CheckUploads(gctx)
			return nil
		})
	}

	// READY once the first scan is in the ledger, not just queued. Waited
	// for beside the main loop: a first scan held up by a hung mount must
	// not stop the heartbeat and the watchdog.
	ready := make(chan struct{})
	g.Go(func() error {
		defer close(ready)
		select {
		case <-w.Ready():
		case <-gctx.Done():
			return nil
		}
		flushed := make(chan struct{})
		select {
		case found <- recordItem{flushed: flushed}:
		case <-gctx.Done():
			return nil
		}
		select {
		case <-flushed:
		case <-gctx.Done():
			return nil
		}
		d.lastScan.Store(d.Now().UnixMilli())
		_, _ = sdaemon.SdNotify(false, sdaemon.SdNotifyReady)
		return nil
	})
	g.Go(func() error {
		d.readiness(gctx, d.recorded)
		return nil
	})
	g.Go(func() error {
		d.trimWhenIdle(gctx)
		return nil
	})
	loopErr := d.loop(gctx, info, ready, problem)
	notifyStopping()
	stop(loopErr)
	if err := g.Wait(); err != nil {
		return err
	}
	return loopErr
}

// readiness re-checks active runs every Tick (quiet period, settle). With
// no active run it sleeps until discovery records a run (recorded) or
// idleRecheck passes: an idle daemon does not query the ledger every
// second (docs/design.md "Idle and failing loops"). It is apart from loop:
// a log read stuck on a hung mount holds this goroutine only, while
// heartbeat, rescue and the watchdog go on, and the read is abandoned at
// shutdown (docs/design.md "Hostile files"). A failing ledger backs off
// instead of logging every tick.
func (d *Daemon) readiness(ctx context.Context, recorded <-chan struct{}) {
	g := guard.New(d.Logger, "readiness check", guard.Options{Now: d.Now})
	wait := d.Tick
	for {
		// Only an idle wait is cut short by discovery: while runs are
		// active the next tick comes within a second anyway, and a wake per
		// recorded batch would re-check every active run on each write.
		wake := recorded
		if wait < idleRecheck {
			wake = nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
		}
		c, err := d.Engine.CheckAllActive(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			wait = max(g.Fail(err), d.Tick)
		case err == nil && c.Active == 0:
			g.OK()
			wait = idleRecheck
		default:
			g.OK()
			wait = d.Tick
			// A run's window ends before the next tick: look then, so it
			// is moved when its window ends, not up to a tick later.
			if !c.Due.IsZero() {
				wait = min(wait, max(c.Due.Sub(d.Engine.Now()), minReadyWait))
			}
		}
	}
}

// minReadyWait is the shortest wait for a run's window to end: a clock
// that disagrees with the file system's by a few milliseconds does not
// make the loop spin.
const minReadyWait = 10 * time.Millisecond

// idleRecheck is how often readiness looks at the ledger while no run is
// active: another process (a backfill) may have recorded one.
const idleRecheck = 30 * time.Second

// loop is the daemon's main loop: heartbeat, lease rescue, the systemd
// watchdog and lifting an auth pause when the key file changes.
func (d *Daemon) loop(ctx context.Context, info ledger.Daemon, ready <-chan struct{}, problem <-chan string) error {
	// Rescue often enough that a crashed uploader's runs wait about one
	// lease, not much longer. The loop wakes only as often as its most
	// frequent duty needs.
	rescueEvery := min(30*time.Second, d.Engine.Lease/2)
	tick := time.NewTicker(min(d.Heartbeat, rescueEvery))
	defer tick.Stop()
	lastBeat, lastRescue := d.Now(), d.Now()
	// The watchdog has its own ticker at half WatchdogSec, independent of
	// Tick, but is fed from this loop: a loop stuck in a step stops feeding
	// it and systemd restarts the daemon.
	// It starts feeding only after READY=1: systemd reads the first
	// message as the start's outcome.
	var dog, dogTicks <-chan time.Time
	if wd, _ := sdaemon.SdWatchdogEnabled(false); wd > 0 {
		t := time.NewTicker(max(wd/2, time.Millisecond))
		defer t.Stop()
		dogTicks = t.C
	}
	key := d.keyStamp()
	scopes := d.Engine.Scopes()
	beat := guard.New(d.Logger, "heartbeat", guard.Options{Now: d.Now})
	rescue := guard.New(d.Logger, "rescue expired uploads", guard.Options{Now: d.Now})
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ready:
			ready, dog = nil, dogTicks
			continue
		case p := <-problem:
			problem = nil
			if info.UploadProblem = p; p != "" {
				if err := d.DB.Heartbeat(ctx, info); err != nil && ctx.Err() == nil {
					beat.Fail(err)
				}
			}
			continue
		case <-dog:
			_, _ = sdaemon.SdNotify(false, sdaemon.SdNotifyWatchdog)
			continue
		case <-tick.C:
		}
		now := d.Now()
		// A ledger deleted or replaced under the daemon: stop (non-zero;
		// systemd restarts it on the file that is there now).
		if err := d.DB.Replaced(); err != nil {
			d.Logger.Error("ledger gone; stopping", "err", err)
			return err
		}
		if now.Sub(lastBeat) >= d.Heartbeat {
			if err := d.DB.Heartbeat(ctx, info); err != nil && ctx.Err() == nil {
				beat.Fail(err) // logged once a minute, not every beat
			} else if err == nil {
				beat.OK()
			}
			lastBeat = now
		}
		if now.Sub(lastRescue) >= rescueEvery {
			if n, err := d.Engine.Rescue(ctx); err != nil && ctx.Err() == nil {
				rescue.Fail(err)
			} else if err == nil && n > 0 {
				d.Logger.Info("rescued uploads whose lease expired", "runs", n)
				d.Engine.Poke()
			}
			lastRescue = now
		}
		if k := d.keyStamp(); !bytes.Equal(k, key) {
			key = k
			keyScopes := scopes
			scopes = d.Engine.Scopes()
			info.UploadScopes = scopes
			// The key's scope changed with it; lift what held the old one.
			if _, paused, err := d.DB.UploadsPaused(ctx, append(d.Engine.Scopes(), keyScopes...)); err == nil && paused {
				d.Logger.Info("API key file changed: resuming uploads", "file", d.KeyFile)
				if err := d.DB.ResumeUploads(ctx, append(d.Engine.Scopes(), keyScopes...)); err != nil {
					d.Logger.Error("resume uploads", "err", err)
				}
				d.Engine.Poke()
			}
		}
	}
}

// keyStamp identifies the key file's current content without keeping the key.
func (d *Daemon) keyStamp() []byte {
	if d.KeyFile == "" {
		return nil
	}
	st, err := os.Stat(d.KeyFile)
	if err != nil {
		return []byte("missing")
	}
	return fmt.Appendf(nil, "%d/%d", st.Size(), st.ModTime().UnixNano())
}

// recordItem is a discovered run dir, or (flushed set) a barrier that is
// closed once everything sent before it is recorded.
type recordItem struct {
	rd      runsync.RunDir
	flushed chan struct{}
}

// recordBatch is the most run dirs recorded in one ledger transaction.
const recordBatch = 500

func (d *Daemon) onRun(ctx context.Context, found chan<- recordItem) func(runsync.RunDir) {
	return func(rd runsync.RunDir) {
		select {
		case found <- recordItem{rd: rd}:
		case <-ctx.Done():
		}
	}
}

// record takes what discovery found and records it in batches: whatever is
// queued when it wakes goes into one batch, so a single new run is recorded
// at once and a full scan in few transactions.
func (d *Daemon) record(ctx context.Context, found <-chan recordItem) {
	since := 0 // runs recorded since memory was last released
	for {
		var batch []runsync.RunDir
		var barriers []chan struct{}
		select {
		case <-ctx.Done():
			return
		case it := <-found:
			batch, barriers = addItem(batch, barriers, it)
		}
	drain:
		for len(batch) < recordBatch {
			select {
			case it := <-found:
				batch, barriers = addItem(batch, barriers, it)
			default:
				break drain
			}
		}
		n := d.recordRuns(ctx, batch)
		for _, b := range barriers {
			close(b)
		}
		if n > 0 {
			select {
			case d.recorded <- struct{}{}:
			default:
			}
		}
		// After a large scan is in, its pages and read buffers are garbage:
		// give them back, instead of carrying them for the daemon's life.
		since += n
		if since >= recordBatch && len(found) == 0 {
			since = 0
			d.releaseMemory(ctx)
		}
	}
}

func addItem(batch []runsync.RunDir, barriers []chan struct{}, it recordItem) ([]runsync.RunDir, []chan struct{}) {
	if it.flushed != nil {
		return batch, append(barriers, it.flushed)
	}
	return append(batch, it.rd), barriers
}

// recordRuns records batch and returns how many rows it wrote (a growing
// run on its schedule writes none).
func (d *Daemon) recordRuns(ctx context.Context, batch []runsync.RunDir) int {
	if len(batch) == 0 {
		return 0
	}
	var known map[string]ledger.FileStat
	if len(batch) > 50 {
		// One query instead of a lookup per run.
		k, err := d.DB.RunStats(ctx)
		if err == nil {
			known = k
		}
	}
	rows, _, err := d.Engine.Observe(ctx, batch, known)
	if err != nil && ctx.Err() == nil {
		d.Logger.Error("record runs", "runs", len(batch), "err", err)
	}
	return len(rows)
}

// onRescan reconciles the ledger with the trees after a full rescan: runs
// whose dir is gone become missing (loudly) instead of waiting forever, all
// of them in one transaction (a tree taken away can hold thousands).
func (d *Daemon) onRescan(ctx context.Context) func() {
	return func() {
		var gone []string
		for _, st := range []ledger.State{ledger.StateActive, ledger.StatePending, ledger.StateFailed} {
			runs, err := d.DB.ListRuns(ctx, ledger.Filter{State: st})
			if err != nil {
				if ctx.Err() == nil {
					d.Logger.Error("reconcile", "err", err)
				}
				return
			}
			for _, r := range runs {
				if !underAny(r.Dir, d.Roots) {
					continue
				}
				if _, err := os.Stat(r.Dir); errors.Is(err, os.ErrNotExist) {
					gone = append(gone, r.Dir)
				}
			}
		}
		d.markMissing(ctx, gone)
		d.lastScan.Store(d.Now().UnixMilli())
	}
}

func (d *Daemon) onRemoved(ctx context.Context) func(string) {
	return func(dir string) { d.markMissing(ctx, []string{dir}) }
}

// markMissing records that dirs vanished (Engine.MarkVanished).
func (d *Daemon) markMissing(ctx context.Context, dirs []string) {
	if err := d.Engine.MarkVanished(ctx, dirs); err != nil && ctx.Err() == nil {
		d.Logger.Error("mark missing", "dirs", len(dirs), "first", dirs[0], "err", err)
	}
}

func underAny(dir string, roots []string) bool {
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if rel, err := filepath.Rel(abs, dir); err == nil && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != "../") {
			return true
		}
	}
	return false
}

// Evaluator runs the regression checks of runs that became ready in the
// background: the first scan of a big tree makes thousands ready at once, and
// the daemon's loop (heartbeat, readiness) must not wait for them. The queue
// is a slice that grows with a burst and is dropped when drained, rather than
// a channel of evalQueue slots: a buffered channel holds its whole buffer
// (1 MB) for the daemon's life, which is a fifth of what the idle daemon's
// heap keeps (docs/design.md "Idle and failing loops").
type Evaluator struct {
	mu     sync.Mutex
	queue  []string      // run dirs, oldest first
	wake   chan struct{} // one slot: "the queue is not empty"
	check  func(ctx context.Context, r ledger.Run)
	logger *slog.Logger
}

// evalQueue bounds the checks waiting; beyond it a check is skipped (and
// logged): `runner check RUN` gives the same answer on demand.
const evalQueue = 1 << 16

// NewEvaluator runs check for each run Enqueue is given, in order, off the caller's goroutine.
func NewEvaluator(check func(ctx context.Context, r ledger.Run), logger *slog.Logger) *Evaluator {
	return &Evaluator{wake: make(chan struct{}, 1), check: check, logger: logger}
}

// Enqueue queues a check of r; it never blocks (a full queue drops the check, logged).
func (e *Evaluator) Enqueue(_ context.Context, r ledger.Run) {
	e.mu.Lock()
	full := len(e.queue) >= evalQueue
	if !full {
		e.queue = append(e.queue, r.Dir)
	}
	e.mu.Unlock()
	if full {
		e.logger.Warn("regression check queue full: skipped", "dir", r.Dir)
		return
	}
	select {
	case e.wake <- struct{}{}:
	default: // already signalled
	}
}

// next takes the oldest queued dir; ok is false when the queue is empty.
func (e *Evaluator) next() (dir string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queue) == 0 {
		return "", false
	}
	dir = e.queue[0]
	e.queue = e.queue[1:]
	if len(e.queue) == 0 {
		e.queue = nil // let a burst's backing array go
	}
	return dir, true
}

// Run checks queued runs until ctx is done.
func (e *Evaluator) Run(ctx context.Context) error {
	for {
		dir, ok := e.next()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-e.wake:
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		e.check(ctx, ledger.Run{Dir: dir})
	}
}

// Lock takes the exclusive daemon lock at path, trying for up to wait
// before it says another daemon holds it. The wait is for a daemon just
// killed: a child it was starting holds a copy of the lock's descriptor
// until its exec closes it, so a restart at once can find the lock held for
// a moment by nobody alive (seen in the crash-loop test).
func Lock(path string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return f, nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("daemon lock %s: %w", path, err)
		case time.Now().After(deadline):
			f.Close()
			return nil, errors.New("another runner daemon is running on this ledger; stop it first")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether a daemon holds the lock of the ledger at
// ledgerPath: unlike the heartbeat, it is false at once after a crash (the
// kernel drops a dead process's lock). Only for this host.
func Running(ledgerPath string) (bool, error) {
	f, err := os.OpenFile(lockPath(ledgerPath), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("daemon lock: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case err == nil:
		return false, nil // closing f releases it
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	}
	return false, fmt.Errorf("daemon lock: %w", err)
}

func lockPath(ledgerPath string) string {
	return filepath.Join(filepath.Dir(ledgerPath), "runner.lock")
}

// LockWait is how long a starting daemon waits for the lock (see Lock).
const LockWait = 2 * time.Second
