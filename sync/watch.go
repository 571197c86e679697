package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions configures a Watcher. Zero values take the defaults.
type WatchOptions struct {
	// Debounce coalesces writes to one run's log into one callback per
	// window (default 250ms). A new run dir, and a run's log appearing for the
	// first time, are reported at once, not after the window.
	Debounce time.Duration
	// Active is the window for a log already reported with its contents
	// (default Debounce): its first write mutes its dir's inotify watch,
	// and the watcher looks at it once per Active instead, reporting the
	// first look that finds it grown and the one that finds it stopped. A
	// run that keeps writing cannot be ready until it stops, and the
	// caller's readiness loop records an active run's growth and sees it
	// stop, so hearing each write only costs CPU (docs/design.md
	// "Observing active runs").
	Active time.Duration
	// Reconcile is the interval of full rescans of every root (default 5m;
	// negative disables them). They catch what events cannot: a `.synced`
	// marker written by a user's own `wandb sync` (marker events are ignored
	// on purpose, see handleEvent), network filesystems without inotify,
	// and dirs left unwatched when fs.inotify.max_user_watches runs out.
	Reconcile time.Duration
	// Poll, when set, looks at every watched dir's mtime this often and
	// walks again the dirs that changed: on NFS or Lustre inotify sees
	// nothing another host writes, and a compute node writes every run. A
	// new run dir changes its parent's mtime, a new log its run dir's; logs
	// that grow are the readiness loop's (sync.Engine.CheckReady).
	Poll time.Duration
	// Logger receives warnings about unreadable dirs and watch errors
	// (rate-limited). Nil discards them.
	Logger *slog.Logger
}

const (
	defaultWatchDebounce  = 250 * time.Millisecond
	defaultWatchReconcile = 5 * time.Minute
	// watchErrLogEvery rate-limits repeated watch errors: a dir tree that
	// cannot be read would otherwise log on every event and every rescan.
	watchErrLogEvery = 10 * time.Second
	// watchDueSlack batches debounced reports that fall due within a few
	// milliseconds of each other into one timer wake-up.
	watchDueSlack = 5 * time.Millisecond
)

// ErrWatcherRunning is returned by a second call to Watcher.Run: a Watcher
// holds per-run state and is good for one Run.
var ErrWatcherRunning = errors.New("watcher already running")

// dirWatcher is the part of *fsnotify.Watcher that adds and drops watches;
// tests wrap it to simulate an exhausted fs.inotify.max_user_watches.
type dirWatcher interface {
	Add(path string) error
	Remove(path string) error
}

// Watcher discovers offline run dirs under its roots as they appear and
// change, using inotify (through fsnotify) plus periodic full rescans.
type Watcher struct {
	roots     []string
	debounce  time.Duration
	active    time.Duration
	reconcile time.Duration
	poll      time.Duration
	log       *slog.Logger
	now       func() time.Time
	ready     chan struct{}
	running   atomic.Bool

	// wrapDirWatcher, when set (tests only), wraps the fsnotify watcher.
	wrapDirWatcher func(dirWatcher) dirWatcher

	// Everything below belongs to the goroutine running Run.
	fsw       *fsnotify.Watcher // tree dirs
	rw        *runWatches       // run dirs, each with its own mask
	dw        dirWatcher        // fsw, or a test's wrapper
	rdw       dirWatcher        // rw, or a test's wrapper
	onRun     func(RunDir)
	onRescan  func()
	onRemoved func(dir string)
	watched   map[string]bool        // dirs holding a watch; true for run dirs
	runs      map[string]*watchedRun // run dirs reported to onRun
	pending   map[string]time.Time   // run dir -> when its debounced report is due
	timer     *time.Timer            // fires at timerAt for pending reports
	timerAt   time.Time              // zero when the timer is stopped
	mtimes    map[string]time.Time   // with Poll: each watched dir's mtime when last walked
	limitHit  bool                   // max_user_watches exhaustion already logged
	errLogAt  time.Time              // last rate-limited error log
	errMuted  int                    // errors not logged since errLogAt
}

// watchedRun is what the watcher remembers about a reported run dir.
type watchedRun struct {
	hasLog bool // the last report carried a LogPath
	// muted: its log is growing, so inotify does not report its writes;
	// the watcher looks at it once per Active instead (pollDue) and
	// listens again once a look finds it unchanged.
	muted bool
	// growing: a look since the log was quiet found it grown and reported
	// it; later looks report only its stop.
	growing bool
	log     string    // the log as last reported or looked at
	size    int64     // its size
	mtime   time.Time // and mtime
}

// NewWatcher checks that every root exists and is a directory and returns a
// watcher for them; start it with Run. Roots are made absolute and their
// symlinks resolved; duplicates are dropped.
func NewWatcher(roots []string, opts WatchOptions) (*Watcher, error) {
	if len(roots) == 0 {
		return nil, errors.New("new watcher: no roots to watch")
	}
	w := &Watcher{
		debounce:  opts.Debounce,
		active:    opts.Active,
		reconcile: opts.Reconcile,
		poll:      opts.Poll,
		log:       opts.Logger,
		now:       time.Now,
		ready:     make(chan struct{}),
	}
	if w.debounce <= 0 {
		w.debounce = defaultWatchDebounce
	}
	if w.active < w.debounce {
		w.active = w.debounce
	}
	if w.reconcile == 0 {
		w.reconcile = defaultWatchReconcile
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool, len(roots))
	for _, r := range roots {
		abs, err := canonicalRoot(r)
		if err != nil {
			return nil, fmt.Errorf("watch root %s: %w", r, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("watch root %s: %w", r, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("watch root %s: %w", r, errRootNotDir)
		}
		if !seen[abs] {
			seen[abs] = true
			w.roots = append(w.roots, abs)
		}
	}
	return w, nil
}

// Ready is closed once the initial scan of every root has finished and every
// run dir found by it has been passed to onRun.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run watches until ctx is done, then returns nil; it returns an error only
// if the watcher cannot start. All callbacks are called from the goroutine
// running Run, one at a time, and may be nil:
//
//   - onRun(rd) for every run dir found by the initial scan and by every later
//     full rescan, for every new run dir (at once), and for every run whose
//     run-*.wandb log was created, written or renamed (debounced per dir). A
//     caller dedups by rd.Size/rd.MTime.
//   - onRescan() after each full rescan (initial, after an event queue
//     overflow, periodic). Every run dir that still exists was passed to
//     onRun during that rescan, so a caller can reconcile against it.
//   - onRemoved(dir) when a run dir is removed or renamed away, or when a
//     rescan no longer finds it.
func (w *Watcher) Run(ctx context.Context, onRun func(RunDir), onRescan func(), onRemoved func(dir string)) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrWatcherRunning
	}
	if err := w.start(onRun, onRescan, onRemoved); err != nil {
		return err
	}
	defer w.stop()

	w.rescan(ctx, "initial")
	if ctx.Err() != nil {
		return nil
	}
	close(w.ready)

	var tick <-chan time.Time
	if w.reconcile > 0 {
		t := time.NewTicker(w.reconcile)
		defer t.Stop()
		tick = t.C
	}
	var pollTick <-chan time.Time
	if w.poll > 0 {
		t := time.NewTicker(w.poll)
		defer t.Stop()
		pollTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("watch: fsnotify event channel closed")
			}
			w.handleEvent(ctx, ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("watch: fsnotify error channel closed")
			}
			w.handleError(ctx, err)
		case ev := <-w.rw.events:
			w.handleEvent(ctx, ev)
		case err := <-w.rw.errors:
			w.handleError(ctx, err)
		case <-w.timer.C:
			w.fireDue()
		case <-tick:
			w.rescan(ctx, "periodic")
		case <-pollTick:
			w.pollDirs(ctx)
		}
	}
}

// start creates the inotify instance and the state Run's loop works on. It
// is separate from Run so tests can drive the handlers synchronously.
func (w *Watcher) start(onRun func(RunDir), onRescan func(), onRemoved func(string)) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		// EMFILE here means fs.inotify.max_user_instances is exhausted.
		return fmt.Errorf("watch: create inotify watcher: %w", err)
	}
	rw, err := newRunWatches()
	if err != nil {
		_ = fsw.Close()
		return fmt.Errorf("watch: create inotify watcher: %w", err)
	}
	w.fsw, w.rw = fsw, rw
	w.dw, w.rdw = fsw, rw
	if w.wrapDirWatcher != nil {
		w.dw, w.rdw = w.wrapDirWatcher(fsw), w.wrapDirWatcher(rw)
	}
	w.onRun, w.onRescan, w.onRemoved = onRun, onRescan, onRemoved
	if w.onRun == nil {
		w.onRun = func(RunDir) {}
	}
	if w.onRescan == nil {
		w.onRescan = func() {}
	}
	if w.onRemoved == nil {
		w.onRemoved = func(string) {}
	}
	w.watched = make(map[string]bool)
	w.mtimes = make(map[string]time.Time)
	w.runs = make(map[string]*watchedRun)
	w.pending = make(map[string]time.Time)
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	w.timerAt = time.Time{}
	return nil
}

func (w *Watcher) stop() {
	w.timer.Stop()
	if err := w.fsw.Close(); err != nil {
		w.log.Warn("close file watcher", "err", err)
	}
	if err := w.rw.Close(); err != nil {
		w.log.Warn("close run dir watcher", "err", err)
	}
}

// handleEvent applies one fsnotify event.
//
// Only three things matter: a directory appearing (watch it, walk it), a
// watched directory going away (drop its watches and runs), and a run dir's
// own run-*.wandb log being created, written or renamed. Everything
// `wandb sync` writes into the tree is ignored: run-*.wandb.synced and
// .syncstate, files/*, logs/* and tmp/* (run subdirs are never watched),
// debug*.log, debug-cli.*.log, latest-run* symlinks, settings. A `.synced`
// marker written by a user's own `wandb sync` therefore shows up only at
// the next rescan (WatchOptions.Reconcile), which is soon enough for an
// upload queue that also checks the marker before uploading.
func (w *Watcher) handleEvent(ctx context.Context, ev fsnotify.Event) {
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) &&
		!ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return // Chmod and the unportable ops
	}
	path := filepath.Clean(ev.Name)
	parent, base := filepath.Dir(path), filepath.Base(path)

	if _, ok := w.runs[parent]; ok || IsRunDirName(filepath.Base(parent)) {
		// An entry of a run dir. A rename sends the old name: the log moved
		// away, so report what the dir holds now.
		if isRunLogName(base) && (ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Rename)) {
			w.logChanged(parent, ev.Has(fsnotify.Create))
		}
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.forget(path)
	}
	if ev.Has(fsnotify.Create) {
		w.created(ctx, path, base)
	}
}

// ignoredTreeName reports names wandb keeps in a wandb dir next to the run
// dirs; none of them is ever a directory worth walking.
func ignoredTreeName(base string) bool {
	switch {
	case base == "settings", base == "wandb-resume.json":
		return true
	case strings.HasPrefix(base, "latest-run"):
		return true // latest-run and latest-run.<pid> symlinks
	case strings.HasPrefix(base, "debug") && strings.HasSuffix(base, ".log"):
		return true // debug.log, debug-internal.log, debug-cli.<user>.log
	case strings.HasSuffix(base, runLogSuffix+runMarkSuffix), strings.HasSuffix(base, runLogSuffix+".syncstate"):
		return true
	}
	return false
}

// created handles a Create in a tree dir: a new directory, or one moved in.
func (w *Watcher) created(ctx context.Context, path, base string) {
	if ignoredTreeName(base) {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return // a file, a symlink (never followed), or already gone again
	}
	// Watch and walk the new dir right away. With `mkdir -p a/wandb/run`
	// the inner dirs, and even the run's log, exist before our watch on
	// a/ does, and no event will ever report them: the walk does.
	err = walkRunTree(ctx, path, treeHooks{
		enter:  w.watchDir,
		found:  w.foundNew,
		failed: w.walkFailed,
	})
	if err != nil && ctx.Err() == nil {
		w.walkFailed(path, err)
	}
}

// foundNew reports a run dir found by a walk after a Create, unless it is
// already known; a known run's watch was in place before it was reported, so
// its changes arrive as events.
func (w *Watcher) foundNew(rd RunDir) error {
	if _, ok := w.runs[rd.Dir]; ok {
		return nil
	}
	w.deliver(rd)
	return nil
}

// deliver records rd as reported and passes it to onRun.
func (w *Watcher) deliver(rd RunDir) {
	st := w.runs[rd.Dir]
	if st == nil {
		st = &watchedRun{}
		w.runs[rd.Dir] = st
	}
	st.hasLog = rd.LogPath != ""
	st.log, st.size, st.mtime = rd.LogPath, rd.Size, rd.MTime
	if !st.muted {
		delete(w.pending, rd.Dir)
	}
	w.onRun(rd)
}

// logChanged handles an event on a run dir's log.
func (w *Watcher) logChanged(dir string, created bool) {
	st := w.runs[dir]
	if st == nil {
		return
	}
	if created && !st.hasLog {
		// The log's first appearance (wandb makes the dir, then the file) is
		// news for the caller: report it now rather than after the window.
		w.report(dir)
		return
	}
	if _, ok := w.pending[dir]; ok {
		return // already due; this write is coalesced into that report
	}
	// The window starts at the first write and is not extended by later
	// ones, so a log written continuously is still reported once per window.
	window := w.debounce
	if st.hasLog && st.size >= newLogBytes {
		window = w.active
		// A log that grows is looked at once per window (pollDue) and
		// its writes no longer wake us: at 10 Hz they were most of the
		// daemon's CPU while training runs (docs/design.md "Observing
		// active runs").
		w.mute(dir, st, true)
	}
	w.schedule(dir, window)
}

// newLogBytes: a log reported smaller than this holds at most the 7-byte
// file header, no record: caught as wandb creates it, and skipped by the
// ledger as empty. The write that makes it a run is news, reported after
// Debounce, not an Active window later (`runner runs` showed a new run
// skipped for 5 s).
const newLogBytes = 8

func (w *Watcher) schedule(dir string, window time.Duration) {
	at := w.now().Add(window)
	w.pending[dir] = at
	w.armTimer(at)
}

// mute switches the reports of dir's writes off (on) or back on. A test's
// wrapped watcher cannot mute: its run dirs stay loud.
func (w *Watcher) mute(dir string, st *watchedRun, on bool) {
	m, ok := w.rdw.(interface{ Mute(string, bool) error })
	if !ok || st.muted == on {
		return
	}
	if _, watched := w.watched[dir]; !watched {
		return // no watch (max_user_watches): rescans see its changes
	}
	if err := m.Mute(dir, on); err != nil {
		// Gone meanwhile: its Remove event follows.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
			w.logError("cannot change a run dir's watch", "path", dir, "err", err)
		}
		return
	}
	st.muted = on
}

func (w *Watcher) armTimer(at time.Time) {
	if !w.timerAt.IsZero() && !at.Before(w.timerAt) {
		return
	}
	w.timerAt = at
	w.timer.Reset(max(at.Sub(w.now()), 0))
}

// fireDue reports every run whose debounce window has ended.
func (w *Watcher) fireDue() {
	w.timerAt = time.Time{}
	now := w.now()
	var next time.Time
	var due []string
	for dir, at := range w.pending {
		if !at.After(now.Add(watchDueSlack)) {
			due = append(due, dir)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, dir := range due {
		delete(w.pending, dir)
		w.pollDue(dir)
	}
	if !next.IsZero() {
		w.armTimer(next)
	}
}

// pollDue reports a run whose window ended. A muted run is looked at again
// one window later while it grows. Only two looks are reported: the first
// that finds it grown (news: a pending run written again, an empty log
// that became a run) and the one that finds it stopped. In between it is
// an active run, whose growth the readiness loop records (it stats every
// active run each second and records them in one batch), so a report per
// window was one more ledger transaction per run for nothing. Once a look
// finds it unchanged its writes are listened to again, and a write that
// fell between that look and the new watch is caught by one more look.
func (w *Watcher) pollDue(dir string) {
	st := w.runs[dir]
	if st == nil || !st.muted {
		w.report(dir)
		return
	}
	rd, err := inspectRunDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.logError("cannot inspect run dir", "path", dir, "err", err)
			w.schedule(dir, w.active) // muted: only a look sees it grow
		}
		return // a vanished dir's Remove event follows
	}
	if same(rd, st) {
		// It stopped growing, for now: listen to its writes again.
		w.mute(dir, st, false)
		if !st.muted {
			if rd, err = inspectRunDir(dir); err != nil {
				w.report(dir)
				return
			}
		}
	}
	if st.muted || !same(rd, st) {
		// Still growing, or it grew as the watch came back: keep looking.
		w.mute(dir, st, true)
		w.schedule(dir, w.active)
		if st.growing && rd.LogPath == st.log {
			st.size, st.mtime = rd.Size, rd.MTime
			return
		}
		st.growing = true
	} else {
		st.growing = false
	}
	w.deliver(rd)
}

// same reports whether rd's log is the one last reported or looked at, unchanged.
func same(rd RunDir, st *watchedRun) bool {
	return rd.LogPath != "" && rd.LogPath == st.log && rd.Size == st.size && rd.MTime.Equal(st.mtime)
}

// report inspects a known run dir and passes the result to onRun.
func (w *Watcher) report(dir string) {
	rd, err := inspectRunDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.logError("cannot inspect run dir", "path", dir, "err", err)
		}
		return // a vanished dir's Remove event follows
	}
	w.deliver(rd)
}

// forget drops a removed or renamed-away path: a run dir, or a tree dir with
// every watch and run below it.
func (w *Watcher) forget(path string) {
	if _, ok := w.runs[path]; ok {
		w.dropRun(path)
		return
	}
	if _, ok := w.watched[path]; !ok {
		return
	}
	prefix := path + string(filepath.Separator)
	for dir := range w.watched {
		if dir == path || strings.HasPrefix(dir, prefix) {
			w.unwatch(dir)
		}
	}
	for dir := range w.runs {
		if strings.HasPrefix(dir, prefix) {
			w.dropRun(dir)
		}
	}
}

func (w *Watcher) dropRun(dir string) {
	w.unwatch(dir)
	delete(w.runs, dir)
	delete(w.pending, dir)
	w.onRemoved(dir)
}

// unwatch removes dir's watch. A renamed dir keeps its inotify watch (it
// follows the inode), so it must be dropped here, before a Create for the
// new name adds one again; a deleted dir's watch is already gone.
func (w *Watcher) unwatch(dir string) {
	if _, ok := w.watched[dir]; !ok {
		return
	}
	isRun := w.watched[dir]
	delete(w.watched, dir)
	delete(w.mtimes, dir)
	dw := w.dw
	if isRun {
		dw = w.rdw
	}
	if err := dw.Remove(dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		w.logError("cannot remove watch", "path", dir, "err", err)
	}
}

// watchDir adds a watch on dir unless it has one (walkRunTree's enter hook
// for walks after a Create).
func (w *Watcher) watchDir(dir string, isRun bool) {
	if _, ok := w.watched[dir]; ok {
		return
	}
	w.addWatch(dir, isRun)
}

func (w *Watcher) addWatch(dir string, isRun bool) {
	dw := w.dw
	if isRun {
		dw = w.rdw
	}
	if err := dw.Add(dir); err != nil {
		w.watchFailed(dir, err)
		return
	}
	w.watched[dir] = isRun
}

func (w *Watcher) watchFailed(dir string, err error) {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		// inotify reports an exhausted fs.inotify.max_user_watches as "no
		// space left on device". Say so once; rescans keep finding runs.
		if !w.limitHit {
			w.limitHit = true
			w.log.Error("inotify watch limit reached: runs under unwatched dirs are found only by periodic rescans",
				"path", dir, "rescan_every", w.reconcile.String(),
				"hint", "raise it with `sysctl fs.inotify.max_user_watches=1048576` (persist in /etc/sysctl.d/)")
		}
	case errors.Is(err, fs.ErrNotExist):
		// Gone between the listing and the watch; its Remove event follows.
	default:
		w.logError("cannot watch directory", "path", dir, "err", err)
	}
}

func (w *Watcher) walkFailed(path string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		return // removed mid-walk: its Remove event or the next rescan deals with it
	}
	w.logError("cannot read directory", "path", path, "err", err)
}

// handleError applies one error from fsnotify.
func (w *Watcher) handleError(ctx context.Context, err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		// Events were dropped, so our view of the trees is wrong: rebuild it.
		w.log.Warn("file event queue overflowed; rescanning every root",
			"hint", "raise `sysctl fs.inotify.max_queued_events` if this repeats")
		w.rescan(ctx, "overflow")
		return
	}
	w.logError("file watch error", "err", err)
}

// logError logs at most once per watchErrLogEvery, with a count of the
// errors muted since the last line.
func (w *Watcher) logError(msg string, args ...any) {
	now := w.now()
	if !w.errLogAt.IsZero() && now.Sub(w.errLogAt) < watchErrLogEvery {
		w.errMuted++
		return
	}
	if w.errMuted > 0 {
		args = append(args, "muted_since_last", w.errMuted)
	}
	w.errLogAt, w.errMuted = now, 0
	w.log.Warn(msg, args...)
}

// rescan walks every root, adds missing watches, reports every run dir to
// onRun, drops watches and runs that are gone, then calls onRescan.
func (w *Watcher) rescan(ctx context.Context, why string) {
	began := w.now()
	seenDirs := make(map[string]bool, len(w.watched))
	seenRuns := make(map[string]bool, len(w.runs))
	var unreadable []string // runs below these may still exist: keep them
	failed := func(path string, err error) {
		if !errors.Is(err, fs.ErrNotExist) {
			unreadable = append(unreadable, path)
		}
		w.walkFailed(path, err)
	}
	for _, root := range w.roots {
		err := walkRunTree(ctx, root, treeHooks{
			enter: func(dir string, isRun bool) {
				seenDirs[dir] = true
				w.noteMTime(dir)
				// Add even where we think a watch exists: a dir deleted and
				// re-created while events were lost has lost its watch
				// without our hearing of it. Re-adding a live watch is one
				// cheap syscall.
				w.addWatch(dir, isRun)
			},
			found: func(rd RunDir) error {
				if !seenRuns[rd.Dir] { // nested roots meet the same runs twice
					seenRuns[rd.Dir] = true
					w.deliver(rd)
				}
				return nil
			},
			failed: failed,
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, fs.ErrNotExist) {
			// Its runs are dropped below; it is watched again once it is back.
			w.logError("watch root is gone", "root", root, "err", err)
		} else if err != nil {
			failed(root, err)
		}
	}

	kept := func(dir string) bool {
		for _, u := range unreadable {
			if dir == u || strings.HasPrefix(dir, u+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	for dir := range w.runs {
		if !seenRuns[dir] && !kept(dir) {
			w.dropRun(dir)
		}
	}
	for dir := range w.watched {
		if !seenDirs[dir] && !kept(dir) {
			w.unwatch(dir)
		}
	}
	w.log.Debug("rescan done", "why", why, "runs", len(seenRuns), "watched_dirs", len(w.watched),
		"took", w.now().Sub(began).String())
	w.onRescan()
}

// noteMTime remembers dir's mtime for pollDirs, before its entries are read:
// an entry added during the walk then shows as a change next time.
func (w *Watcher) noteMTime(dir string) {
	if w.poll <= 0 {
		return
	}
	if fi, err := os.Lstat(dir); err == nil {
		w.mtimes[dir] = fi.ModTime()
	}
}

// pollDirs (WatchOptions.Poll) walks again every watched dir whose mtime
// changed since it was last walked: one lstat per dir when nothing did.
// What went away is left to the next full rescan.
func (w *Watcher) pollDirs(ctx context.Context) {
	var changed []string
	for dir := range w.watched {
		fi, err := os.Lstat(dir)
		if err != nil || fi.ModTime().Equal(w.mtimes[dir]) {
			continue
		}
		changed = append(changed, dir)
	}
	slices.Sort(changed) // parents first: a child walked with its parent is skipped below
	walked := map[string]bool{}
	for _, dir := range changed {
		if walked[dir] || ctx.Err() != nil {
			continue
		}
		err := walkRunTree(ctx, dir, treeHooks{
			enter: func(d string, isRun bool) {
				walked[d] = true
				w.noteMTime(d)
				w.addWatch(d, isRun)
			},
			found: func(rd RunDir) error {
				w.deliver(rd)
				return nil
			},
			failed: w.walkFailed,
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.walkFailed(dir, err)
		}
	}
}
