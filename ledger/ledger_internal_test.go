package ledger

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestGroupKey(t *testing.T) {
	tests := []struct {
		name string
		meta *Meta
		want string
	}{
		{"run id and project", &Meta{RunID: "abc", Project: "p"}, "p/abc"},
		{"run id without project", &Meta{RunID: "abc"}, "/abc"},
		{"no run id: the dir alone", &Meta{Project: "p"}, "/w/offline-run-1"},
		{"no metadata yet", nil, "/w/offline-run-1"},
	}
	for _, tt := range tests {
		if got := groupKey("/w/offline-run-1", tt.meta); got != tt.want {
			t.Errorf("%s: groupKey = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestStageOrderIsOneOrderForSyncAndMerge(t *testing.T) {
	at := func(h int) *time.Time {
		v := time.Date(2025, 1, 1, h, 0, 0, 0, time.UTC)
		return &v
	}
	runs := []Run{
		{Dir: "/b/offline-run-20250101_030000-x"}, // no start time: last
		{Dir: "/a/offline-run-20250101_020000-x", Meta: Meta{StartTime: at(2)}},
		{Dir: "/a/offline-run-20250101_010000-x", Meta: Meta{StartTime: at(1)}},
		{Dir: "/a/offline-run-20250101_000000-x"},                               // no start time, earlier name
		{Dir: "/c/offline-run-20250101_020000-x", Meta: Meta{StartTime: at(2)}}, // same time: by name, then dir
	}
	SortStages(runs) // claim, the late-fragment path and MergeSummaries all use it
	var got []string
	for _, r := range runs {
		got = append(got, r.Dir)
	}
	want := []string{
		"/a/offline-run-20250101_010000-x",
		"/a/offline-run-20250101_020000-x",
		"/c/offline-run-20250101_020000-x",
		"/a/offline-run-20250101_000000-x",
		"/b/offline-run-20250101_030000-x",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v\nwant %v", got, want)
	}
}

// TestInTxRollsBackOnError: a failing step leaves no partial write behind.
func TestInTxRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	err = db.inTx(ctx, func(tx *Tx) error {
		if err := addEvent(ctx, tx, 1, "error", "x", "half done"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if evs, err := db.Events(ctx, nil, 0); err != nil || len(evs) != 0 {
		t.Errorf("events after rollback = %v, %v", evs, err)
	}
}

func TestTimesRoundTripAsUTCMilliseconds(t *testing.T) {
	in := time.Date(2025, 6, 1, 14, 30, 15, 123_456_789, time.FixedZone("CEST", 2*3600))
	got := fromMS(ms(in))
	if !got.Equal(in.Truncate(time.Millisecond)) || got.Location() != time.UTC {
		t.Errorf("round trip %v -> %v", in, got)
	}
	if msOrNull(time.Time{}) != nil || msPtr(nil) != nil || fromNullMS(sql.NullInt64{}) != nil {
		t.Error("zero/absent times must be stored as NULL")
	}
}

// The writer's statement cache: a statement a transaction prepared is
// prepared once on the writer connection after it, later transactions run
// it from there (rolled back or committed, their writes are theirs), and
// Close closes the cache.
func TestWriteStatementsArePreparedOnceOnTheWriter(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const q = `INSERT INTO events (at, kind, subject, message) VALUES (?, ?, ?, ?)`
	write := func(i int, fail bool) error {
		return db.inTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, q, i, "info", "x", "write"); err != nil {
				return err
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		})
	}
	if err := write(1, false); err != nil {
		t.Fatal(err)
	}
	cached := db.writeStmt(q)
	if cached == nil {
		t.Fatal("no cached statement after the first transaction")
	}
	for i, fail := range []bool{false, true, false} {
		if err := write(i+2, fail); (err != nil) != fail {
			t.Fatalf("write %d: %v", i+2, err)
		}
	}
	if db.writeStmt(q) != cached {
		t.Error("the statement was prepared again")
	}
	if evs, err := db.Events(ctx, nil, 0); err != nil || len(evs) != 3 {
		t.Errorf("events = %d, %v; want 3 (the rolled back one not among them)", len(evs), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db.writeStmt(q) != nil {
		t.Error("Close left the cache")
	}
}
