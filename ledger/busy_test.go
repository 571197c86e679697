package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// Another process holds the ledger's write lock (a sqlite3 shell left in a
// transaction): a command waits one busy timeout and says so in one line
// naming the ledger; the daemon (Patient) outwaits it and its write lands.
func TestALockedLedgerBoundsACommandsWait(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	const wait = 300 * time.Millisecond
	open := func(patient bool) *ledger.DB {
		db, err := ledger.Open(ctx, path, ledger.Options{BusyTimeout: wait, Patient: patient})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	cmd, daemon := open(false), open(true)

	hold := func(d time.Duration) {
		t.Helper()
		conn, err := raw(t, path).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(d, func() {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
		})
	}

	hold(3 * wait)
	// The lock outlasts one wait but not four: a command that retried (as
	// every write did: 40 s for the documented 10 s) would get through.
	_, err := cmd.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, Cwd: "/"})
	if !errors.Is(err, ledger.ErrBusy) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("submit against a held lock: %v; want one line naming %s, wrapping ErrBusy", err, path)
	}
	time.Sleep(3 * wait) // the holder lets go

	hold(3 * wait)
	j, err := daemon.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, Cwd: "/"})
	if err != nil {
		t.Fatalf("patient write across a held lock: %v", err)
	}
	if got, err := cmd.GetJob(ctx, j.ID); err != nil || got.State != ledger.JobQueued {
		t.Errorf("the patient write did not land: %v %+v", err, got)
	}
}

// status's "N failed in the last 24h" counts runs that failed for good, not
// attempts: a run whose failed attempt will be retried is not failed.
func TestUploadsSinceCountsFailedRunsNotRetriedAttempts(t *testing.T) {
	ctx := context.Background()
	db, clock := openTemp(t)
	s1, s2, other := pipeline(t, db)
	mustReady(t, db, s1.Dir, s2.Dir, other.Dir)
	fail := func(max int) {
		t.Helper()
		got, err := db.Claim(ctx, "w1", time.Minute, nil)
		if err != nil || len(got) == 0 {
			t.Fatalf("claim: %v %v", got, err)
		}
		if err := db.Complete(ctx, "w1", dirsOf(got), ledger.Result{Outcome: ledger.OutcomeTransient, Error: "dial tcp: refused",
			StartedAt: clock.Now(), CountAttempt: true, NextAttemptAt: clock.Now().Add(time.Minute), MaxAttempts: max}); err != nil {
			t.Fatal(err)
		}
	}
	fail(1) // the pipeline's two dirs: out of attempts, failed
	fail(5) // other: pending, retried later
	ok, failed, err := db.UploadsSince(ctx, clock.Now().Add(-time.Hour))
	if err != nil || ok != 0 || failed != 2 {
		t.Errorf("UploadsSince = %d synced, %d failed, %v; want 0 and 2 (the retried run is not failed)", ok, failed, err)
	}
}
