package sync

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// countingStore counts every ledger call the engine makes, and can make
// Claim fail, so tests can see what an idle or a failing loop costs.
type countingStore struct {
	Store
	calls     atomic.Int64
	failClaim atomic.Bool
	slowNext  atomic.Int64 // a delay before NextAttempt answers, as on a loaded box
}

var errLedgerDown = errors.New("database disk image is malformed")

func (c *countingStore) n() { c.calls.Add(1) }

func (c *countingStore) RunStats(ctx context.Context) (map[string]ledger.FileStat, error) {
	c.n()
	return c.Store.RunStats(ctx)
}
func (c *countingStore) UpsertRuns(ctx context.Context, obs []ledger.Observation) ([]ledger.Run, error) {
	c.n()
	return c.Store.UpsertRuns(ctx, obs)
}
func (c *countingStore) GetRun(ctx context.Context, dir string) (ledger.Run, error) {
	c.n()
	return c.Store.GetRun(ctx, dir)
}
func (c *countingStore) ListRuns(ctx context.Context, f ledger.Filter) ([]ledger.Run, error) {
	c.n()
	return c.Store.ListRuns(ctx, f)
}
func (c *countingStore) MarkReadyMany(ctx context.Context, marks []ledger.ReadyMark) ([]string, error) {
	c.n()
	return c.Store.MarkReadyMany(ctx, marks)
}
func (c *countingStore) MarkMissing(ctx context.Context, dir string) error {
	c.n()
	return c.Store.MarkMissing(ctx, dir)
}
func (c *countingStore) MarkMissingMany(ctx context.Context, dirs []string) ([]string, error) {
	c.n()
	return c.Store.MarkMissingMany(ctx, dirs)
}
func (c *countingStore) ClaimBatch(ctx context.Context, owner string, lease time.Duration, only []string, maxDirs int) ([][]ledger.Run, error) {
	c.n()
	if c.failClaim.Load() {
		return nil, errLedgerDown
	}
	return c.Store.ClaimBatch(ctx, owner, lease, only, maxDirs)
}
func (c *countingStore) SyncedSiblings(ctx context.Context, g string) ([]ledger.Run, error) {
	c.n()
	return c.Store.SyncedSiblings(ctx, g)
}
func (c *countingStore) ExtendLease(ctx context.Context, owner string, dirs []string, lease time.Duration) error {
	c.n()
	return c.Store.ExtendLease(ctx, owner, dirs, lease)
}
func (c *countingStore) Complete(ctx context.Context, owner string, dirs []string, r ledger.Result) error {
	c.n()
	return c.Store.Complete(ctx, owner, dirs, r)
}
func (c *countingStore) Release(ctx context.Context, owner string, dirs []string) error {
	c.n()
	return c.Store.Release(ctx, owner, dirs)
}
func (c *countingStore) RescueExpired(ctx context.Context) (int, error) {
	c.n()
	return c.Store.RescueExpired(ctx)
}
func (c *countingStore) RescueDead(ctx context.Context, gone func(string) bool) (int, error) {
	c.n()
	return c.Store.RescueDead(ctx, gone)
}
func (c *countingStore) NextAttempt(ctx context.Context, since time.Time) (time.Time, bool, error) {
	c.n()
	if d := time.Duration(c.slowNext.Load()); d > 0 {
		time.Sleep(d)
	}
	return c.Store.NextAttempt(ctx, since)
}
func (c *countingStore) PendingDue(ctx context.Context) (int, error) {
	c.n()
	return c.Store.PendingDue(ctx)
}
func (c *countingStore) AddEvent(ctx context.Context, kind, subject, msg string) error {
	c.n()
	return c.Store.AddEvent(ctx, kind, subject, msg)
}
func (c *countingStore) PauseUploads(ctx context.Context, reason ledger.Pause) error {
	c.n()
	return c.Store.PauseUploads(ctx, reason)
}
func (c *countingStore) UploadsPaused(ctx context.Context, scopes []string) (ledger.Pause, bool, error) {
	c.n()
	return c.Store.UploadsPaused(ctx, scopes)
}

var _ Store = (*countingStore)(nil)

// startWorkers runs Work in the background and returns the outcomes channel.
func startWorkers(t *testing.T, e *Engine, n int) <-chan UploadOutcome {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outs := make(chan UploadOutcome, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Work(ctx, n, time.Hour, func(o UploadOutcome) { outs <- o })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return outs
}

// Once the uploads are done, idle workers make no ledger calls and do not
// wake up: the daemon that burned a core after its first upload spun here.
func TestIdleWorkersSleepAfterUploads(t *testing.T) {
	f := &fakeSyncer{results: []UploadResult{
		{Outcome: ledger.OutcomeSuccess},
		{Outcome: ledger.OutcomeTransient, Err: errString("dial tcp: connection refused")}, // retried after its backoff
		{Outcome: ledger.OutcomeSuccess},
	}}
	e, _ := newTestEngine(t, f)
	cs := &countingStore{Store: e.Store}
	e.Store = cs
	e.BackoffBase, e.BackoffMax = 50*time.Millisecond, 50*time.Millisecond
	root := t.TempDir()
	t0 := time.Now()
	for _, id := range []string{"aaa", "bbb", "ccc"} {
		writeLog(t, root, id, t0, true)
	}
	observeAll(t, e, root)

	outs := startWorkers(t, e, 2)
	var synced int
	for synced < 3 {
		select {
		case o := <-outs:
			if o.Outcome == ledger.OutcomeSuccess {
				synced++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 3 runs uploaded after 10 s", synced)
		}
	}
	// The last claim passed a wake-up on; let the worker that takes it find
	// nothing (up to 5 s on a loaded box: a worker that spins never settles
	// and fails below), then count over an idle window.
	for settle := time.Now().Add(5 * time.Second); time.Now().Before(settle); {
		before := cs.calls.Load()
		time.Sleep(200 * time.Millisecond)
		if cs.calls.Load() == before {
			break
		}
	}
	wakes, calls := e.Wakeups(), cs.calls.Load()
	time.Sleep(time.Second)
	if d := e.Wakeups() - wakes; d != 0 {
		t.Errorf("idle workers woke up %d times in 1 s after the uploads (want 0)", d)
	}
	if d := cs.calls.Load() - calls; d != 0 {
		t.Errorf("idle workers made %d ledger calls in 1 s after the uploads (want 0)", d)
	}
	// 4 uploads (one retried) and the wake-ups they pass on: a handful, not thousands.
	if wakes > 16 {
		t.Errorf("%d worker wake-ups for 4 uploads", wakes)
	}

	// A run that becomes ready wakes a worker at once, without polling.
	writeLog(t, root, "ddd", t0, true)
	observeAll(t, e, root)
	select {
	case o := <-outs:
		if o.Outcome != ledger.OutcomeSuccess {
			t.Fatalf("new run: %s %v", o.Outcome, o.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a run that became ready was not uploaded within 10 s (poll is 1 h)")
	}
}

// A retry whose backoff runs out while an idle worker is still between its
// claim and its question about the next backoff is not slept past: on a
// loaded box (CI under the race detector) that gap outlasted a 50 ms backoff
// and both workers slept the whole poll (here an hour). The upload outlasts
// the slow question so that the other worker is already asleep when it fails.
func TestRetryDueDuringASlowQuestionIsNotMissed(t *testing.T) {
	f := &fakeSyncer{results: []UploadResult{
		{Outcome: ledger.OutcomeTransient, Err: errString("dial tcp: connection refused")},
		{Outcome: ledger.OutcomeSuccess},
	}, delay: 600 * time.Millisecond}
	e, _ := newTestEngine(t, f)
	cs := &countingStore{Store: e.Store}
	cs.slowNext.Store(int64(200 * time.Millisecond))
	e.Store = cs
	e.BackoffBase, e.BackoffMax = 50*time.Millisecond, 50*time.Millisecond
	root := t.TempDir()
	writeLog(t, root, "aaa", time.Now(), true)
	observeAll(t, e, root)

	outs := startWorkers(t, e, 2)
	for _, want := range []string{ledger.OutcomeTransient, ledger.OutcomeSuccess} {
		select {
		case o := <-outs:
			if o.Outcome != want {
				t.Fatalf("upload: %s %v, want %s", o.Outcome, o.Err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s upload within 10 s (backoff 50 ms, poll 1 h)", want)
		}
	}
}

// A ledger that fails every claim is retried with a growing wait and logged
// once, not once per pass.
func TestFailingLedgerBacksOffAndLogsOnce(t *testing.T) {
	var logs discLog
	e, _ := newTestEngine(t, &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}})
	e.Logger = logs.logger()
	cs := &countingStore{Store: e.Store}
	cs.failClaim.Store(true)
	e.Store = cs
	startWorkers(t, e, 2)
	time.Sleep(1500 * time.Millisecond)
	// Each worker: a claim at 0 s, a wait of 1 s, a claim, a wait of 2 s.
	if n := e.Wakeups(); n > 4 {
		t.Errorf("%d claims on a failing ledger in 1.5 s; want at most 2 per worker", n)
	}
	if n := strings.Count(logs.String(), "malformed"); n != 1 {
		t.Errorf("the failure was logged %d times in 1.5 s, want once:\n%s", n, logs.String())
	}
	cs.failClaim.Store(false)
}

// A log read that never returns (a hung network mount) does not hold its
// caller: Prepare gives up when its context ends, and the read is abandoned.
func TestHungLogReadIsAbandonedOnCancel(t *testing.T) {
	e, _ := newTestEngine(t, &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}})
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	e.ReadLog = func(string) (*ledger.Meta, error) {
		close(entered)
		<-release
		return nil, errors.New("released")
	}
	root := t.TempDir()
	writeLog(t, root, "hung", time.Now(), true)
	var dirs []RunDir
	if err := Scan(context.Background(), root, func(d RunDir) error { dirs = append(dirs, d); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Prepare(ctx, dirs, nil)
		errc <- err
	}()
	<-entered
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Prepare after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Prepare still waiting for a hung read 5 s after its context ended")
	}
}
