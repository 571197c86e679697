package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// A run that grows is read and recorded on a schedule, not on each write:
// writes within ActiveEvery of the last observation cost no read and leave
// the row as it was; once the window passed, one read records everything
// written meanwhile. A new run is recorded at once, whatever the schedule,
// and a job's end (LookNow) lifts it.
func TestGrowingRunIsObservedOnASchedule(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	now := time.Now().Truncate(2 * time.Second) // a slot's start (sameSlot)
	e.Now = func() time.Time { return now }
	e.ActiveEvery = 2 * time.Second
	reads := 0
	e.ReadLog = func(p string) (*ledger.Meta, error) { reads++; return ReadMeta(p) }
	root := t.TempDir()
	dir := writeLog(t, root, "grow1", now, false)
	log := filepath.Join(dir, "run-grow1.wandb")
	grow := func() int64 {
		t.Helper()
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, 64)); err != nil { // a torn tail is fine for a growing log
			t.Fatal(err)
		}
		st, _ := f.Stat()
		return st.Size()
	}
	size := func() int64 {
		t.Helper()
		r, err := db.GetRun(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return r.Size
	}
	observeAll(t, e, root)
	first := size()
	if reads != 1 || first == 0 {
		t.Fatalf("new run: %d reads, size %d; want it read and recorded at once", reads, first)
	}
	for i := 0; i < 5; i++ { // 10 Hz for half a second
		grow()
		now = now.Add(100 * time.Millisecond)
		observeAll(t, e, root)
	}
	if reads != 1 || size() != first {
		t.Errorf("within the window: %d reads, size %d -> %d; want no read and the row unchanged", reads, first, size())
	}
	other := writeLog(t, root, "new2", now, false)
	observeAll(t, e, root)
	if _, err := db.GetRun(ctx, other); err != nil || reads != 2 {
		t.Errorf("a new run beside it: %v after %d reads; want it recorded at once", err, reads)
	}
	now = now.Add(2 * time.Second)
	last := grow()
	observeAll(t, e, root)
	if got := size(); got != last || reads != 3 {
		t.Errorf("after the window: size %d, %d reads; want %d recorded by one more read", got, reads, last)
	}
	last = grow()
	e.LookNow(dir)
	observeAll(t, e, root)
	if got := size(); got != last {
		t.Errorf("after LookNow: size %d, want %d at once", got, last)
	}
}

// The schedule is slots of the wall clock: runs first recorded at
// different times in a slot all fall due at the next slot's start, so one
// pass reads and records them together (one transaction), and none waits
// more than a slot.
func TestGrowingRunsFallDueTogether(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	slot := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := slot
	e.Now = func() time.Time { return now }
	e.Settle, e.ActiveEvery = time.Hour, 5*time.Second
	e.HeldOpen = func(string) bool { return false }
	reads := 0
	e.ReadLog = func(p string) (*ledger.Meta, error) { reads++; return ReadMeta(p) }
	root := t.TempDir()
	var logs []string
	for i, at := range []time.Duration{200 * time.Millisecond, 4800 * time.Millisecond} {
		now = slot.Add(at)
		id := fmt.Sprintf("slot%d", i)
		dir := writeLog(t, root, id, slot, false)
		logs = append(logs, filepath.Join(dir, "run-"+id+".wandb"))
		appendTo(t, logs[i], 0, now)
		observeAll(t, e, root)
	}
	if c, err := e.CheckAllActive(ctx); err != nil || c.Active != 2 {
		t.Fatalf("%v, %d active; want both recorded", err, c.Active)
	}
	now = slot.Add(4900 * time.Millisecond)
	sizes := []int64{appendTo(t, logs[0], 64, now), appendTo(t, logs[1], 64, now)}
	before := reads
	if _, err := e.CheckAllActive(ctx); err != nil || reads != before {
		t.Fatalf("in the first slot: %v, %d reads; want none", err, reads-before)
	}
	now = slot.Add(5100 * time.Millisecond)
	if _, err := e.CheckAllActive(ctx); err != nil || reads != before+2 {
		t.Fatalf("after the slot: %v, %d reads; want both runs read in this pass", err, reads-before)
	}
	for i, l := range logs {
		r, err := db.GetRun(ctx, filepath.Dir(l))
		if err != nil || r.Size != sizes[i] {
			t.Errorf("%s: %v, size %d; want %d recorded", l, err, r.Size, sizes[i])
		}
	}
}

// appendTo grows log by n bytes (a torn tail is fine for a growing log)
// and sets its mtime to at; it returns the new size.
func appendTo(t *testing.T, log string, n int, at time.Time) int64 {
	t.Helper()
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(log, at, at); err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// A run that stopped growing while its growth waited on the schedule is
// read, recorded and moved to pending when the settle window has passed
// since its last write, not up to ActiveEvery later; until then the
// check says when that window ends (the daemon wakes then).
func TestStoppedRunIsReadyWhenItsWindowEnds(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := t0
	e.Now = func() time.Time { return now }
	e.Settle, e.ActiveEvery = 3*time.Second, 5*time.Second
	e.HeldOpen = func(string) bool { return false }
	root := t.TempDir()
	dir := writeLog(t, root, "stop1", t0, false)
	log := filepath.Join(dir, "run-stop1.wandb")
	appendTo(t, log, 0, t0)
	observeAll(t, e, root)

	last := t0.Add(time.Second)
	final := appendTo(t, log, 64, last) // within ActiveEvery: waits on the schedule
	for _, c := range []struct {
		at      time.Duration // after the last write
		ready   int
		due     time.Time
		size    int64
		state   ledger.State
		comment string
	}{
		{0, 0, last.Add(3 * time.Second), 0, ledger.StateActive, "growth on the schedule: not recorded"},
		{2999 * time.Millisecond, 0, last.Add(3 * time.Second), 0, ledger.StateActive, "just before the window ends"},
		{3 * time.Second, 1, time.Time{}, final, ledger.StatePending, "the window ended: read, recorded, ready"},
	} {
		now = last.Add(c.at)
		got, err := e.CheckAllActive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.GetRun(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		size := c.size
		if size == 0 {
			size = r.Size // not recorded: whatever the first look saw
			if size == final {
				t.Errorf("%s: the growth was recorded", c.comment)
			}
		}
		if got.Ready != c.ready || !got.Due.Equal(c.due) || r.Size != size || r.State != c.state {
			t.Errorf("%s: ready %d due %s, row %d B %s; want ready %d due %s, %d B %s", c.comment,
				got.Ready, got.Due, r.Size, r.State, c.ready, c.due, size, c.state)
		}
	}
}

// The readiness loop keeps the active runs in memory: a pass over runs
// that did not change queries nothing; a run another process made active
// is looked at from the next list (activeRelist), and one another
// process moved on leaves the set by then.
func TestActiveRunsAreKeptInMemory(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	t0 := time.Now().Truncate(time.Second)
	now := t0
	e.Now = func() time.Time { return now }
	root := t.TempDir()
	a := writeLog(t, root, "mem1", t0, false)
	observeAll(t, e, root)
	c, err := e.CheckAllActive(ctx)
	if err != nil || c.Active != 1 {
		t.Fatalf("first pass: %+v, %v; want 1 active", c, err)
	}
	calls := db.Calls()
	for range 3 {
		now = now.Add(time.Second)
		if c, err = e.CheckAllActive(ctx); err != nil || c.Active != 1 {
			t.Fatalf("pass: %+v, %v", c, err)
		}
	}
	if n := db.Calls() - calls; n != 0 {
		t.Errorf("3 passes over an unchanged run: %d ledger calls, want 0", n)
	}

	// Another process: a backfill records a run, a user skips the first.
	other := NewEngine(EngineOptions{Store: db, Now: e.Now})
	b := writeLog(t, t.TempDir(), "mem2", t0, false)
	rd, err := InspectRunDir(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Observe(ctx, []RunDir{rd}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Skip(ctx, []string{a}, "by hand"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after time.Duration
		want  string
	}{{time.Second, a}, {activeRelist, b}} {
		now = now.Add(c.after)
		if _, err := e.CheckAllActive(ctx); err != nil {
			t.Fatal(err)
		}
		runs, err := e.activeRuns(ctx)
		if err != nil || len(runs) != 1 || runs[0].Dir != c.want {
			t.Errorf("%s later: active %v, %v; want only %s", c.after, runs, err, c.want)
		}
	}
}

// upsertLog is a Store that remembers the dirs of each UpsertRuns call.
type upsertLog struct {
	Store
	calls [][]string
}

func (u *upsertLog) UpsertRuns(ctx context.Context, obs []ledger.Observation) ([]ledger.Run, error) {
	var dirs []string
	for _, o := range obs {
		dirs = append(dirs, filepath.Base(o.Dir))
	}
	u.calls = append(u.calls, dirs)
	return u.Store.UpsertRuns(ctx, obs)
}

// A run whose settle window ended in a pass that is also a slot's growth
// of other runs is recorded and moved first, in a transaction of its own:
// the growth of many runs does not hold up its move.
func TestSettledRunIsRecordedBeforeASlotsGrowth(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	slot := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := slot
	e.Now = func() time.Time { return now }
	e.Settle, e.ActiveEvery = 3*time.Second, 5*time.Second
	e.HeldOpen = func(string) bool { return false }
	root := t.TempDir()
	logs := map[string]string{}
	for _, id := range []string{"a-grows", "b-stops", "c-grows"} {
		dir := writeLog(t, root, id, slot, false)
		logs[id] = filepath.Join(dir, "run-"+id+".wandb")
		appendTo(t, logs[id], 0, slot)
	}
	observeAll(t, e, root)
	if _, err := e.CheckAllActive(ctx); err != nil {
		t.Fatal(err)
	}
	appendTo(t, logs["b-stops"], 64, slot.Add(time.Second)) // its last write
	now = slot.Add(5 * time.Second)
	for _, id := range []string{"a-grows", "c-grows"} {
		appendTo(t, logs[id], 64, now)
	}
	u := &upsertLog{Store: db}
	e.Store = u
	c, err := e.CheckAllActive(ctx)
	if err != nil || c.Ready != 1 {
		t.Fatalf("%v, %d ready; want b-stops", err, c.Ready)
	}
	if len(u.calls) != 2 || len(u.calls[0]) != 1 || !strings.Contains(u.calls[0][0], "b-stops") || len(u.calls[1]) != 2 {
		t.Errorf("upserts %v; want b-stops alone, then the two growing runs", u.calls)
	}
}
