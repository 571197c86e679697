package sync

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

func TestActiveEveryFor(t *testing.T) {
	for _, c := range []struct{ settle, want time.Duration }{
		{2 * time.Second, time.Second},
		{8 * time.Second, 2 * time.Second},
		{10 * time.Minute, 5 * time.Second},
	} {
		if got := ActiveEveryFor(c.settle); got != c.want {
			t.Errorf("ActiveEveryFor(%s) = %s, want %s", c.settle, got, c.want)
		}
	}
}

// A run that grows is read and recorded on a schedule, not on each write:
// writes within ActiveEvery of the last observation cost no read and leave
// the row as it was; once the window passed, one read records everything
// written meanwhile. A new run is recorded at once, whatever the schedule,
// and a job's end (LookNow) lifts it.
func TestGrowingRunIsObservedOnASchedule(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{})
	now := time.Now()
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
