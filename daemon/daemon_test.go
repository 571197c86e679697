package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A log read stuck in the kernel (a hung mount) holds neither the
// heartbeat nor shutdown: the daemon keeps beating, and returns promptly
// when stopped, abandoning the read.
func TestDaemonStaysResponsiveWhileALogReadHangs(t *testing.T) {
	// Never notify a systemd socket inherited from another test's process.
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("evaluator stopped with %v", err)
	}
}

// The daemon lock is exclusive: a second holder is refused at once.
func TestDaemonLockIsExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runner.lock")
	first, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(p); err == nil || !strings.Contains(err.Error(), "another runner daemon") {
		t.Errorf("second lock: %v, want refused", err)
	}
	first.Close()
	again, err := Lock(p)
	if err != nil {
		t.Errorf("lock after the first holder closed: %v", err)
	} else {
		again.Close()
	}
}
