package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// discLog is a goroutine-safe log sink: the watcher logs from Run's goroutine.
type discLog struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *discLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *discLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *discLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// discCalls records the watcher's callbacks.
type discCalls struct {
	runs    chan RunDir
	rescans chan struct{}
	removed chan string
}

func newDiscCalls() *discCalls {
	return &discCalls{
		runs:    make(chan RunDir, 10000),
		rescans: make(chan struct{}, 10000),
		removed: make(chan string, 10000),
	}
}

func (c *discCalls) onRun(rd RunDir)      { c.runs <- rd }
func (c *discCalls) onRescan()            { c.rescans <- struct{}{} }
func (c *discCalls) onRemoved(dir string) { c.removed <- dir }

// waitRun waits for an onRun that satisfies ok and returns it.
func (c *discCalls) waitRun(t *testing.T, within time.Duration, what string, ok func(RunDir) bool) RunDir {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case rd := <-c.runs:
			if ok(rd) {
				return rd
			}
		case <-deadline:
			t.Fatalf("no onRun for %s within %v", what, within)
			return RunDir{}
		}
	}
}

// drainRuns collects onRun calls for d.
func (c *discCalls) drainRuns(d time.Duration) []RunDir {
	var got []RunDir
	deadline := time.After(d)
	for {
		select {
		case rd := <-c.runs:
			got = append(got, rd)
		case <-deadline:
			return got
		}
	}
}

func (c *discCalls) waitRemoved(t *testing.T, dir string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-c.removed:
			if d == dir {
				return
			}
		case <-deadline:
			t.Fatalf("no onRemoved(%s) within %v", dir, within)
		}
	}
}

// discRunWatcher starts w.Run and waits for Ready; the watcher stops at the
// end of the test and must return nil.
func discRunWatcher(t *testing.T, w *Watcher) *discCalls {
	t.Helper()
	c := newDiscCalls()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.onRun, c.onRescan, c.onRemoved) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("Run ended before Ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not ready after 5s")
	}
	return c
}

func discNewWatcher(t *testing.T, root string, opts WatchOptions) *Watcher {
	t.Helper()
	w, err := NewWatcher([]string{root}, opts)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	return w
}

func discAppend(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func hasLog(rd RunDir) bool { return rd.LogPath != "" }

func TestNewWatcherRejectsBadRoots(t *testing.T) {
	root := discRealDir(t)
	file := filepath.Join(root, "file")
	discWrite(t, file, nil)
	for _, roots := range [][]string{nil, {filepath.Join(root, "missing")}, {root, file}} {
		if _, err := NewWatcher(roots, WatchOptions{}); err == nil {
			t.Errorf("NewWatcher(%v) succeeded, want an error", roots)
		} else if len(roots) > 0 && !strings.Contains(err.Error(), roots[len(roots)-1]) {
			t.Errorf("NewWatcher(%v) error %q does not name the bad root", roots, err)
		}
	}
}

func TestWatcherReportsExistingRunsBeforeReady(t *testing.T) {
	root := discRealDir(t)
	a := discMakeRun(t, filepath.Join(root, "p1", "wandb"), "offline-run-20240101_120000-aaaa", "aaaa")
	b := discMakeRun(t, filepath.Join(root, "p2", ".wandb"), "offline-run-20240101_120000-bbbb", "bbbb")
	w := discNewWatcher(t, root, WatchOptions{})
	c := discRunWatcher(t, w)

	got := map[string]bool{}
	for len(c.runs) > 0 {
		got[(<-c.runs).Dir] = true
	}
	if len(got) != 2 || !got[a] || !got[b] {
		t.Errorf("runs reported before Ready = %v, want %s and %s", got, a, b)
	}
	if n := len(c.rescans); n != 1 {
		t.Errorf("onRescan called %d times by Ready, want 1 (the initial scan)", n)
	}
	ctx := t.Context()
	if err := w.Run(ctx, nil, nil, nil); !errors.Is(err, ErrWatcherRunning) {
		t.Errorf("second Run = %v, want ErrWatcherRunning", err)
	}
}

func TestWatcherReportsNewRunDirs(t *testing.T) {
	tests := []struct {
		name   string
		create func(t *testing.T, root string) string
	}{
		{"run dir in an existing wandb dir", func(t *testing.T, root string) string {
			return discMakeRun(t, filepath.Join(root, "proj", "wandb"), "offline-run-20240102_120000-newrun", "newrun")
		}},
		{"mkdir -p of a new nested wandb dir with the log written at once", func(t *testing.T, root string) string {
			dir := filepath.Join(root, "proj", "sub", "deeper", ".wandb", "offline-run-20240102_120000-racy")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			discWrite(t, filepath.Join(dir, "run-racy.wandb"), discFakeLog)
			return dir
		}},
		{"empty run dir whose log appears later", func(t *testing.T, root string) string {
			dir := discMakeRun(t, filepath.Join(root, "proj", "wandb"), "offline-run-20240102_120000-late", "")
			time.Sleep(20 * time.Millisecond)
			discWrite(t, filepath.Join(dir, "run-late.wandb"), discFakeLog)
			return dir
		}},
		{"run dir moved in from outside the tree", func(t *testing.T, root string) string {
			src := discMakeRun(t, discRealDir(t), "offline-run-20240102_120000-moved", "moved")
			dst := filepath.Join(root, "proj", "wandb", filepath.Base(src))
			if err := os.Rename(src, dst); err != nil {
				t.Fatal(err)
			}
			return dst
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := discRealDir(t)
			if err := os.MkdirAll(filepath.Join(root, "proj", "wandb"), 0o755); err != nil {
				t.Fatal(err)
			}
			// A long debounce proves a new run and its log's first
			// appearance are not held back by it. (The log may still be
			// empty then: later writes are coalesced by the debounce.)
			c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: 3 * time.Second}))
			start := time.Now()
			dir := tt.create(t, root)
			rd := c.waitRun(t, time.Second, dir, func(rd RunDir) bool { return rd.Dir == dir && hasLog(rd) })
			if !strings.HasPrefix(filepath.Base(rd.LogPath), "run-") || filepath.Dir(rd.LogPath) != dir {
				t.Errorf("reported log %q, want the run-*.wandb in %s", rd.LogPath, dir)
			}
			t.Logf("reported after %v", time.Since(start))
		})
	}
}

func TestWatcherDebouncesAGrowingLog(t *testing.T) {
	root := discRealDir(t)
	dir := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-grow", "grow")
	log := filepath.Join(dir, "run-grow.wandb")
	const debounce = 300 * time.Millisecond
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: debounce}))
	for len(c.runs) > 0 {
		<-c.runs
	}

	const writes = 40
	for range writes {
		discAppend(t, log, []byte("0123456789"))
		time.Sleep(2 * time.Millisecond)
	}
	got := c.drainRuns(debounce + 500*time.Millisecond)
	if len(got) == 0 || len(got) > 3 {
		t.Fatalf("%d writes gave %d onRun calls, want 1 to 3 (coalesced per %v window)", writes, len(got), debounce)
	}
	want := int64(len(discFakeLog) + writes*10)
	if last := got[len(got)-1]; last.Size != want {
		t.Errorf("last report has size %d, want the final size %d", last.Size, want)
	}
}

// A log written at 10 Hz (wandb.log in a training loop) is reported once
// per Active window, not once per Debounce: 2 s of writes with a 1 s window
// are two or three reports, where the 50 ms debounce alone would make ~40.
// A new run is still reported at once.
func TestWatcherReportsAnActiveLogOncePerActiveWindow(t *testing.T) {
	root := discRealDir(t)
	dir := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-hz10", "hz10")
	log := filepath.Join(dir, "run-hz10.wandb")
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: 50 * time.Millisecond, Active: time.Second}))
	for len(c.runs) > 0 {
		<-c.runs
	}
	began := time.Now()
	for range 20 {
		discAppend(t, log, []byte("0123456789"))
		time.Sleep(100 * time.Millisecond)
	}
	wrote := time.Since(began) // 2 s, more on a loaded machine
	// The final size arrives at the latest two windows after the last write
	// (the look that still sees growth, then the one that sees it stopped).
	final := int64(len(discFakeLog) + 200)
	var got []RunDir
	deadline := time.After(3 * time.Second) // two 1 s windows and slack
collect:
	for {
		select {
		case rd := <-c.runs:
			got = append(got, rd)
			if rd.Size == final {
				break collect
			}
		case <-deadline:
			sizes := make([]int64, len(got))
			for i, rd := range got {
				sizes[i] = rd.Size
			}
			t.Fatalf("no report with the final size %d within two windows of the last write; reports had sizes %v", final, sizes)
		}
	}
	got = append(got, c.drainRuns(300*time.Millisecond)...)
	if most := int(wrote/time.Second) + 2; len(got) < 1 || len(got) > most {
		t.Fatalf("%v of writes at 10 Hz gave %d reports, want 1 to %d (one per 1 s window)", wrote.Round(time.Millisecond), len(got), most)
	}
	if got[len(got)-1].Size != final {
		t.Errorf("last report has size %d, want the final size %d", got[len(got)-1].Size, final)
	}
	start := time.Now()
	fresh := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_130000-new1", "new1")
	c.waitRun(t, 500*time.Millisecond, fresh, func(rd RunDir) bool { return rd.Dir == fresh && hasLog(rd) })
	t.Logf("new run reported after %v", time.Since(start))
}

// A log caught empty as wandb creates it (the ledger skips it as empty)
// is reported again after Debounce when its first records arrive, not an
// Active window later: that write makes it a run.
func TestWatcherReportsAnEmptyLogsFirstRecordsAtOnce(t *testing.T) {
	root := discRealDir(t)
	dir := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-empty1", "")
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: 50 * time.Millisecond, Active: 10 * time.Second}))
	log := filepath.Join(dir, "run-empty1.wandb")
	discWrite(t, log, nil)
	c.waitRun(t, 2*time.Second, "the empty log", func(rd RunDir) bool { return rd.Dir == dir && hasLog(rd) && rd.Size == 0 })
	discAppend(t, log, discFakeLog)
	c.waitRun(t, 2*time.Second, "its first records", func(rd RunDir) bool { return rd.Dir == dir && rd.Size == int64(len(discFakeLog)) })
}

func TestWatcherIgnoresWhatWandbSyncWrites(t *testing.T) {
	root := discRealDir(t)
	wandbDir := filepath.Join(root, "wandb")
	dir := discMakeRun(t, wandbDir, "offline-run-20240101_120000-sync", "sync")
	log := filepath.Join(dir, "run-sync.wandb")
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: 30 * time.Millisecond}))
	for len(c.runs) > 0 {
		<-c.runs
	}

	discWrite(t, log+".synced", nil)
	discWrite(t, log+".syncstate", []byte(`{"starting_step": 12}`))
	discWrite(t, filepath.Join(dir, "files", "config.yaml"), []byte("lr: 1\n"))
	discWrite(t, filepath.Join(dir, "files", "media", "images", "a.png"), []byte("png"))
	discWrite(t, filepath.Join(dir, "logs", "debug-internal.log"), []byte("x"))
	discWrite(t, filepath.Join(dir, "tmp", "code", "train.py"), []byte("x"))
	discWrite(t, filepath.Join(wandbDir, "debug-cli.root.log"), []byte("x"))
	discWrite(t, filepath.Join(wandbDir, "debug.log"), []byte("x"))
	discWrite(t, filepath.Join(wandbDir, "settings"), []byte("[default]\n"))
	if err := os.Symlink(filepath.Base(dir), filepath.Join(wandbDir, "latest-run.123")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(wandbDir, "latest-run.123"), filepath.Join(wandbDir, "latest-run")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(log, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := c.drainRuns(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("sync outputs triggered %d onRun calls, want none: %+v", len(got), got)
	}

	// The watcher is alive and still watching this run's log.
	discAppend(t, log, []byte("more"))
	rd := c.waitRun(t, time.Second, "log append", func(rd RunDir) bool { return rd.Dir == dir })
	if !rd.Marker {
		t.Errorf("report after the marker appeared has Marker=false")
	}
}

func TestWatcherReportsRemovedRunDirs(t *testing.T) {
	root := discRealDir(t)
	outside := discRealDir(t)
	wandbDir := filepath.Join(root, "p", "wandb")
	deleted := discMakeRun(t, wandbDir, "offline-run-20240101_120000-del", "del")
	movedOut := discMakeRun(t, wandbDir, "offline-run-20240101_120000-out", "out")
	renamed := discMakeRun(t, wandbDir, "offline-run-20240101_120000-ren", "ren")
	projGone := discMakeRun(t, filepath.Join(root, "q", "wandb"), "offline-run-20240101_120000-proj", "proj")
	w := discNewWatcher(t, root, WatchOptions{Debounce: 30 * time.Millisecond})
	c := discRunWatcher(t, w)
	for len(c.runs) > 0 {
		<-c.runs
	}

	if err := os.RemoveAll(deleted); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, deleted, time.Second)

	if err := os.Rename(movedOut, filepath.Join(outside, filepath.Base(movedOut))); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, movedOut, time.Second)

	newName := filepath.Join(wandbDir, "offline-run-20240101_120000-ren-1")
	if err := os.Rename(renamed, newName); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, renamed, time.Second)
	c.waitRun(t, time.Second, "renamed run", func(rd RunDir) bool { return rd.Dir == newName && hasLog(rd) })

	// A whole project moved out of the tree: its run is gone, no watch is
	// left under it, and writes at the new place are not reported.
	movedProj := filepath.Join(outside, "q")
	if err := os.Rename(filepath.Join(root, "q"), movedProj); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, projGone, time.Second)
	for _, p := range w.fsw.WatchList() {
		if strings.HasPrefix(p, filepath.Join(root, "q")) || p == deleted || p == movedOut || p == renamed {
			t.Errorf("watch on %s left behind after it went away", p)
		}
	}
	discAppend(t, filepath.Join(movedProj, "wandb", filepath.Base(projGone), "run-proj.wandb"), []byte("x"))
	if got := c.drainRuns(200 * time.Millisecond); len(got) != 0 {
		t.Errorf("writes outside the tree reported: %+v", got)
	}
}

// discStartSync prepares w for tests that drive its handlers directly from
// the test goroutine instead of Run's loop; events are left unread.
func discStartSync(t *testing.T, w *Watcher) *discCalls {
	t.Helper()
	c := newDiscCalls()
	if err := w.start(c.onRun, c.onRescan, c.onRemoved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	return c
}

func TestWatcherRescansOnEventOverflow(t *testing.T) {
	root := discRealDir(t)
	wandbDir := filepath.Join(root, "wandb")
	gone := discMakeRun(t, wandbDir, "offline-run-20240101_120000-gone", "gone")
	w := discNewWatcher(t, root, WatchOptions{})
	c := discStartSync(t, w)
	w.rescan(t.Context(), "initial")
	if len(c.runs) != 1 || len(c.rescans) != 1 {
		t.Fatalf("initial scan: %d runs, %d rescans; want 1, 1", len(c.runs), len(c.rescans))
	}
	<-c.runs
	<-c.rescans

	// Changes whose events are lost in the overflow.
	added := discMakeRun(t, wandbDir, "offline-run-20240101_120001-added", "added")
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	w.handleError(t.Context(), fmt.Errorf("read events: %w", fsnotify.ErrEventOverflow))

	if len(c.rescans) != 1 {
		t.Errorf("overflow caused %d rescans, want 1", len(c.rescans))
	}
	if len(c.runs) != 1 || (<-c.runs).Dir != added {
		t.Errorf("overflow rescan did not report the run added meanwhile")
	}
	if len(c.removed) != 1 || <-c.removed != gone {
		t.Errorf("overflow rescan did not report the run removed meanwhile")
	}
	// The rescan rebuilt the watches: the new run's log is watched.
	watching := false
	for _, p := range w.rw.WatchList() {
		watching = watching || p == added
	}
	if !watching {
		t.Errorf("no watch on %s after the rescan", added)
	}
}

func TestWatcherRateLimitsOtherErrors(t *testing.T) {
	logs := &discLog{}
	w := discNewWatcher(t, discRealDir(t), WatchOptions{Logger: logs.logger()})
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return now }
	c := discStartSync(t, w)

	for range 5 {
		w.handleError(t.Context(), errors.New("inotify read: bad thing"))
	}
	if n := strings.Count(logs.String(), "bad thing"); n != 1 {
		t.Errorf("5 errors in a burst logged %d times, want 1", n)
	}
	now = now.Add(watchErrLogEvery + time.Second)
	w.handleError(t.Context(), errors.New("inotify read: bad thing"))
	if out := logs.String(); strings.Count(out, "bad thing") != 2 || !strings.Contains(out, "muted_since_last=4") {
		t.Errorf("after the quiet period want a second line counting 4 muted errors, got:\n%s", out)
	}
	if len(c.rescans) != 0 {
		t.Errorf("a non-overflow error caused a rescan")
	}
}

// discNoSpaceWatcher fails every Add the way inotify does when
// fs.inotify.max_user_watches is exhausted.
type discNoSpaceWatcher struct{ dirWatcher }

func (discNoSpaceWatcher) Add(string) error { return syscall.ENOSPC }

func TestWatcherKeepsFindingRunsWhenWatchesRunOut(t *testing.T) {
	root := discRealDir(t)
	wandbDir := filepath.Join(root, "wandb")
	old := discMakeRun(t, wandbDir, "offline-run-20240101_120000-old", "old")
	logs := &discLog{}
	w := discNewWatcher(t, root, WatchOptions{Reconcile: 50 * time.Millisecond, Logger: logs.logger()})
	w.wrapDirWatcher = func(d dirWatcher) dirWatcher { return discNoSpaceWatcher{d} }
	c := discRunWatcher(t, w)
	c.waitRun(t, time.Second, old, func(rd RunDir) bool { return rd.Dir == old })

	// No watch exists, so only the periodic rescan can see these.
	added := discMakeRun(t, wandbDir, "offline-run-20240101_120001-new", "new")
	c.waitRun(t, 10*time.Second, added, func(rd RunDir) bool { return rd.Dir == added })
	if err := os.RemoveAll(old); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, old, 10*time.Second)
	for len(c.rescans) < 4 {
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	if n := strings.Count(out, "watch limit reached"); n != 1 {
		t.Errorf("watch limit logged %d times over several rescans, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "sysctl fs.inotify.max_user_watches") {
		t.Errorf("watch limit log has no sysctl hint:\n%s", out)
	}
}

func TestWatcherPeriodicReconcile(t *testing.T) {
	root := discRealDir(t)
	run := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-rec", "rec")
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Reconcile: 40 * time.Millisecond}))

	deadline := time.After(10 * time.Second) // generous: CI runs this beside the race detector
	for n := 0; n < 3; {
		select {
		case <-c.rescans:
			n++
		case <-deadline:
			t.Fatalf("only %d periodic rescans in 10s with a 40ms interval", n)
		}
	}
	// Each rescan hands every existing run to onRun again, so a marker
	// written by a hand-run `wandb sync` (an ignored event) is seen.
	discWrite(t, filepath.Join(run, "run-rec.wandb.synced"), nil)
	c.waitRun(t, 10*time.Second, "marker via rescan", func(rd RunDir) bool { return rd.Dir == run && rd.Marker })
}

func TestWatcherDoesNotFollowSymlinksOutOfTheTree(t *testing.T) {
	root := discRealDir(t)
	outside := discRealDir(t)
	discMakeRun(t, filepath.Join(outside, "wandb"), "offline-run-20240101_120000-out1", "out1")
	if err := os.Symlink(filepath.Join(outside, "wandb"), filepath.Join(root, "linked-at-start")); err != nil {
		t.Fatal(err)
	}
	w := discNewWatcher(t, root, WatchOptions{Debounce: 30 * time.Millisecond, Reconcile: 50 * time.Millisecond})
	c := discRunWatcher(t, w)
	if err := os.Symlink(outside, filepath.Join(root, "linked-later")); err != nil {
		t.Fatal(err)
	}
	discMakeRun(t, filepath.Join(outside, "wandb"), "offline-run-20240101_120001-out2", "out2")
	if got := c.drainRuns(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("runs behind symlinks reported: %+v", got)
	}
	for _, p := range append(w.fsw.WatchList(), w.rw.WatchList()...) {
		if !strings.HasPrefix(p, root) {
			t.Errorf("watch on %s, outside the tree", p)
		}
	}
}

func TestWatcherRootRemovedAndRecreated(t *testing.T) {
	parent := discRealDir(t)
	root := filepath.Join(parent, "workspace")
	run := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-back", "back")
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Reconcile: 50 * time.Millisecond}))
	c.waitRun(t, time.Second, run, func(rd RunDir) bool { return rd.Dir == run })

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	c.waitRemoved(t, run, time.Second)
	discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-back", "back")
	c.waitRun(t, 10*time.Second, "run in the re-created root", func(rd RunDir) bool { return rd.Dir == run && hasLog(rd) })
}

// discDeafWatcher takes every watch and hears nothing: inotify on NFS or
// Lustre, where the writes come from other hosts.
type discDeafWatcher struct{}

func (discDeafWatcher) Add(string) error    { return nil }
func (discDeafWatcher) Remove(string) error { return nil }

// With Poll, runs written where inotify hears nothing are found by the
// dirs' mtimes, well before any full rescan; without it they are not.
func TestWatcherPollFindsRunsInotifyCannotSee(t *testing.T) {
	for _, poll := range []time.Duration{50 * time.Millisecond, 0} {
		root := discRealDir(t)
		wandbDir := filepath.Join(root, "wandb")
		old := discMakeRun(t, wandbDir, "offline-run-20240101_120000-old", "old")
		w := discNewWatcher(t, root, WatchOptions{Reconcile: -1, Poll: poll})
		w.wrapDirWatcher = func(dirWatcher) dirWatcher { return discDeafWatcher{} }
		c := discRunWatcher(t, w)
		c.waitRun(t, time.Second, old, func(rd RunDir) bool { return rd.Dir == old })

		added := discMakeRun(t, wandbDir, "offline-run-20240101_120001-new", "new")
		nested := discMakeRun(t, filepath.Join(root, "proj", "wandb"), "offline-run-20240101_120002-nest", "nest")
		if poll == 0 {
			if got := c.drainRuns(500 * time.Millisecond); len(got) != 0 {
				t.Errorf("without --poll a deaf watcher reported %v", got)
			}
			continue
		}
		seen := map[string]bool{}
		c.waitRun(t, 10*time.Second, "both new runs", func(rd RunDir) bool {
			seen[rd.Dir] = true
			return seen[added] && seen[nested]
		})
	}
}

// A run that grows, pauses and grows again is reported through every
// phase: at most once per Active window while it grows, with its last size
// once it stops, and a single write after the pause is still heard (the
// watch listens to writes again once a look finds the log unchanged).
func TestWatcherReportsEachPhaseOfAGrowingLog(t *testing.T) {
	root := discRealDir(t)
	dir := discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-phases", "phases")
	log := filepath.Join(dir, "run-phases.wandb")
	const active = 200 * time.Millisecond
	c := discRunWatcher(t, discNewWatcher(t, root, WatchOptions{Debounce: 20 * time.Millisecond, Active: active}))
	for len(c.runs) > 0 {
		<-c.runs
	}
	size := int64(len(discFakeLog))
	for phase, writes := range []int{50, 1, 3} {
		for range writes {
			discAppend(t, log, []byte("0123456789"))
			size += 10
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Duration(writes) * 20 * time.Millisecond
		got := c.drainRuns(took + 3*active)
		if len(got) == 0 {
			t.Fatalf("phase %d: %d writes were not reported", phase, writes)
		}
		if max := int(took/active) + 3; len(got) > max {
			t.Errorf("phase %d: %d writes gave %d reports, want at most %d (one per %v)", phase, writes, len(got), max, active)
		}
		if last := got[len(got)-1]; last.Size != size {
			t.Errorf("phase %d: last report has size %d, want the final size %d", phase, last.Size, size)
		}
	}
}

// A muted run dir reports no writes but still reports new files and its
// own removal at once; a rescan's re-add keeps the mute, and unmuting
// reports writes again.
func TestRunWatchesMuteOnlyWrites(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "run-x.wandb")
	discWrite(t, log, discFakeLog)
	r, err := newRunWatches()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	next := func(within time.Duration) (fsnotify.Event, bool) {
		select {
		case ev := <-r.events:
			return ev, true
		case err := <-r.errors:
			t.Fatalf("run dir watch error: %v", err)
		case <-time.After(within):
		}
		return fsnotify.Event{}, false
	}
	steps := []struct {
		name string
		do   func()
		want fsnotify.Event // zero: no event
	}{
		{"loud write", func() { discAppend(t, log, []byte("a")) }, fsnotify.Event{Name: log, Op: fsnotify.Write}},
		{"muted write", func() {
			if err := r.Mute(dir, true); err != nil {
				t.Fatal(err)
			}
			discAppend(t, log, []byte("b"))
		}, fsnotify.Event{}},
		{"muted write after a re-add", func() {
			if err := r.Add(dir); err != nil {
				t.Fatal(err)
			}
			discAppend(t, log, []byte("c"))
		}, fsnotify.Event{}},
		{"muted new file", func() { discWrite(t, filepath.Join(dir, "run-y.wandb"), nil) },
			fsnotify.Event{Name: filepath.Join(dir, "run-y.wandb"), Op: fsnotify.Create}},
		{"unmuted write", func() {
			if err := r.Mute(dir, false); err != nil {
				t.Fatal(err)
			}
			discAppend(t, log, []byte("d"))
		}, fsnotify.Event{Name: log, Op: fsnotify.Write}},
	}
	if err := r.Add(dir); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		s.do()
		ev, ok := next(300 * time.Millisecond)
		for ok && ev.Op == fsnotify.Write && s.want.Op == fsnotify.Create {
			ev, ok = next(300 * time.Millisecond) // the new file's own write
		}
		if s.want.Op == 0 && ok {
			t.Errorf("%s: got %v, want no event", s.name, ev)
		} else if s.want.Op != 0 && (!ok || ev.Name != s.want.Name || ev.Op != s.want.Op) {
			t.Errorf("%s: got %v (%v), want %v", s.name, ev, ok, s.want)
		}
		for ok { // the rest of this step's events
			ev, ok = next(50 * time.Millisecond)
		}
	}
	if err := r.Mute(dir, true); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := next(time.Second)
		if !ok {
			t.Fatal("no Remove event for the muted dir itself")
		}
		if ev.Name == dir && ev.Has(fsnotify.Remove) {
			break
		}
	}
}
