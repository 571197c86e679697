package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLedger is a fresh ledger for a daemon under test, which never
// notifies a systemd socket inherited from another test's process.
func testLedger(t *testing.T) *ledger.DB {
	t.Helper()
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	return ledgertest.Open(t, "", ledger.Options{Logger: quietLogger()})
}

// A log read stuck in the kernel (a hung mount) holds neither the
// heartbeat nor shutdown: the daemon keeps beating, and returns promptly
// when stopped, abandoning the read.
func TestDaemonStaysResponsiveWhileALogReadHangs(t *testing.T) {
	ctx := context.Background()
	db := testLedger(t)
	root := t.TempDir()
	dir := filepath.Join(root, "wandb", "offline-run-20260101_000000-hung0001")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-hung0001.wandb"), wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: "hung0001", Project: "p", StartTime: time.Now()})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	defer close(release)
	eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Logger: quietLogger(), ReadLog: func(string) (*ledger.Meta, error) {
		entered <- struct{}{}
		<-release
		return nil, os.ErrDeadlineExceeded
	}})
	d := &Daemon{DB: db, Engine: eng, Logger: quietLogger(), Roots: []string{root}, Reconcile: time.Hour,
		Now: time.Now, Tick: 20 * time.Millisecond, Heartbeat: 50 * time.Millisecond}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer cancel()

	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon never read the run's log")
	}
	st, err := db.DaemonState(ctx)
	if err != nil || st == nil {
		t.Fatalf("daemon state: %v", err)
	}
	first := st.HeartbeatAt
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := db.DaemonState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.HeartbeatAt.After(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat for 10 s while a log read hung")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop within 5 s while a log read hung")
	}
}

// The daemon checks runs for regressions in the background, in the order they
// became ready, and never blocks the caller (its readiness loop).
func TestEvaluatorChecksInBackground(t *testing.T) {
	got := make(chan string, 3)
	e := NewEvaluator(func(_ context.Context, r ledger.Run) { got <- r.Dir }, quietLogger())
	for _, d := range []string{"/a", "/b", "/c"} {
		e.Enqueue(context.Background(), ledger.Run{Dir: d})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	for _, want := range []string{"/a", "/b", "/c"} {
		select {
		case d := <-got:
			if d != want {
				t.Fatalf("checked %s, want %s", d, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("queued check never ran")
		}
	}
	// A run that becomes ready once the queue has drained still wakes it.
	e.Enqueue(context.Background(), ledger.Run{Dir: "/d"})
	select {
	case d := <-got:
		if d != "/d" {
			t.Fatalf("checked %s, want /d", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("check queued after the queue drained never ran")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("evaluator stopped with %v", err)
	}
}

// A burst beyond the queue's bound is dropped with a warning naming the run,
// never blocking the readiness loop that enqueues.
func TestEvaluatorDropsBeyondItsBound(t *testing.T) {
	var logs bytes.Buffer
	e := NewEvaluator(func(context.Context, ledger.Run) {}, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := 0; i < evalQueue; i++ {
		e.Enqueue(context.Background(), ledger.Run{Dir: "/run"})
	}
	if strings.Contains(logs.String(), "queue full") {
		t.Fatalf("dropped a check within the bound: %s", logs.String())
	}
	e.Enqueue(context.Background(), ledger.Run{Dir: "/one-too-many"})
	if !strings.Contains(logs.String(), "regression check queue full") || !strings.Contains(logs.String(), "/one-too-many") {
		t.Fatalf("no warning for the dropped check; log: %q", logs.String())
	}
}

// The daemon lock is exclusive: a second holder is refused once the wait
// is over, and gets it when the first lets go within the wait (a killed
// daemon's child that had not exec'd yet).
func TestDaemonLockIsExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runner.lock")
	first, err := Lock(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(p, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "another runner daemon") {
		t.Errorf("second lock: %v, want refused", err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		first.Close()
	}()
	again, err := Lock(p, 10*time.Second)
	if err != nil {
		t.Fatalf("lock released within the wait: %v", err)
	}
	again.Close()
}

// okSyncer uploads by writing the marker, as the wandb CLI does.
type okSyncer struct{ calls atomic.Int64 }

func (s *okSyncer) Upload(_ context.Context, dirs []string) runsync.UploadResult {
	s.calls.Add(1)
	for _, d := range dirs {
		logs, _ := filepath.Glob(filepath.Join(d, "run-*.wandb"))
		for _, l := range logs {
			_ = runsync.MarkSynced(owner.Self(), l)
		}
	}
	return runsync.UploadResult{Outcome: ledger.OutcomeSuccess}
}

// After its uploads and a job's end, an idle daemon makes no ledger call
// and its upload workers do not wake: counted, not timed. (It once spun a
// whole core here: every idle worker put the wake-up back and took it again.)
func TestIdleDaemonMakesNoLedgerCallsAfterWork(t *testing.T) {
	ctx := context.Background()
	db := testLedger(t)
	root := t.TempDir()
	for _, id := range []string{"idle0001", "idle0002", "idle0003"} {
		dir := filepath.Join(root, "wandb", "offline-run-20260101_000000-"+id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: id, Project: "p", StartTime: time.Now()})
		_ = w.Exit(0, 1)
		_ = w.Footer()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	up := &okSyncer{}
	eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Uploader: up, Logger: quietLogger(), TmpDir: t.TempDir()})
	d := &Daemon{DB: db, Engine: eng, Logger: quietLogger(), Roots: []string{root}, Upload: true, Concurrency: 2,
		Reconcile: time.Hour, Now: time.Now, Tick: 20 * time.Millisecond}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := db.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c[ledger.StateSynced] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs %v after 15 s, want 3 synced", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A job's end: its runs are observed and judged at once.
	JobRunsEnded(ctx, db, eng, root, "nojob", quietLogger())

	time.Sleep(300 * time.Millisecond) // the last wake-ups passed on by the uploads
	calls, wakes := db.Calls(), eng.Wakeups()
	time.Sleep(1500 * time.Millisecond)
	if n := db.Calls() - calls; n != 0 {
		t.Errorf("idle daemon made %d ledger calls in 1.5 s after its work (want 0)", n)
	}
	if n := eng.Wakeups() - wakes; n != 0 {
		t.Errorf("idle upload workers woke %d times in 1.5 s (want 0)", n)
	}
	if n := up.calls.Load(); n < 1 || n > 3 {
		t.Errorf("%d wandb sync calls for 3 runs, want 1 to 3 (batched)", n)
	}
}

// A ledger deleted under the running daemon stops it with an error (systemd
// restarts it on the file that is there now), instead of writing on into a
// file nobody reads.
func TestDaemonStopsWhenItsLedgerIsDeleted(t *testing.T) {
	db := testLedger(t)
	eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Logger: quietLogger()})
	d := &Daemon{DB: db, Engine: eng, Logger: quietLogger(), Roots: []string{t.TempDir()}, Reconcile: time.Hour,
		Now: time.Now, Tick: 20 * time.Millisecond, Heartbeat: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	if err := os.Remove(db.Path()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ledger.ErrReplaced) {
			t.Errorf("daemon stopped with %v, want ErrReplaced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still running 10 s after its ledger was deleted")
	}
}
