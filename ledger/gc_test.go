package ledger_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// syncRun takes one pending run through a successful upload that took d.
func syncRun(t *testing.T, db *ledger.DB, clock *fakeClock, dir string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	start := clock.Now()
	if _, err := db.Claim(ctx, "gc-test", time.Hour, []string{dir}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(d)
	if err := db.Complete(ctx, "gc-test", []string{dir}, ledger.Result{
		Outcome: ledger.OutcomeSuccess, Source: ledger.SourceUpload, StartedAt: start, CountAttempt: true,
	}); err != nil {
		t.Fatal(err)
	}
}

func TestGCCandidatesAreOnlyOldSyncedRunsStillOnDisk(t *testing.T) {
	ctx := context.Background()
	db, clock := openTemp(t)
	root := t.TempDir()
	old := observe(root, "offline-run-old", "old1", t0)
	fresh := observe(root, "offline-run-fresh", "fresh1", t0)
	pending := observe(root, "offline-run-pending", "pend1", t0)
	mustUpsert(t, db, old, fresh, pending)
	mustReady(t, db, old.Dir, fresh.Dir, pending.Dir)
	syncRun(t, db, clock, old.Dir, time.Minute) // synced at 2025-03-01 12:01
	clock.Advance(40 * 24 * time.Hour)
	syncRun(t, db, clock, fresh.Dir, time.Minute) // synced 40 days later

	cutoff := clock.Now().Add(-30 * 24 * time.Hour)
	got, err := db.GCCandidates(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if d := dirsOf(got); !slices.Equal(d, []string{old.Dir}) {
		t.Fatalf("gc candidates %v, want only the run synced 40 days ago %s", d, old.Dir)
	}

	ok, err := db.MarkDeleted(ctx, old.Dir, 12345)
	if err != nil || !ok {
		t.Fatalf("mark deleted: %v %v", ok, err)
	}
	if r := mustGet(t, db, old.Dir); r.State != ledger.StateSynced {
		t.Errorf("deleted run state %s, want it to stay synced", r.State)
	}
	at, err := db.DeletedAt(ctx, old.Dir)
	if err != nil || at == nil || !at.Equal(clock.Now().Truncate(time.Millisecond)) {
		t.Errorf("deleted_at = %v (%v), want %v", at, err, clock.Now())
	}
	if got, _ := db.GCCandidates(ctx, cutoff); len(got) != 0 {
		t.Errorf("a deleted run is a gc candidate again: %v", dirsOf(got))
	}
	evs, err := db.Events(ctx, []string{"gc"}, 0)
	if err != nil || len(evs) != 1 || evs[0].Subject != old.Dir || !strings.Contains(evs[0].Message, "12345 bytes") {
		t.Errorf("gc events %+v (%v), want one for %s with the bytes freed", evs, err, old.Dir)
	}

	// Only synced, not-yet-deleted runs can be marked.
	for _, dir := range []string{old.Dir, pending.Dir} {
		if ok, err := db.MarkDeleted(ctx, dir, 1); err != nil || ok {
			t.Errorf("MarkDeleted(%s) = %v, %v; want false (already deleted or not synced)", filepath.Base(dir), ok, err)
		}
	}
	if evs, _ := db.Events(ctx, []string{"gc"}, 0); len(evs) != 1 {
		t.Errorf("refused MarkDeleted calls logged events: %+v", evs)
	}
}

func TestEndedJobFilesSkipsJobsStillRunning(t *testing.T) {
	ctx := context.Background()
	db, clock := openTemp(t)
	start := func(name string) ledger.Job {
		j, err := db.SubmitJob(ctx, ledger.JobSpec{Name: name, Argv: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		j, ok, err := db.StartJob(ctx, j.ID, ledger.JobStart{LogPath: "/logs/" + name + ".log", StatusPath: "/logs/" + name + ".status"})
		if err != nil || !ok {
			t.Fatalf("start %s: %v %v", name, ok, err)
		}
		return j
	}
	ended, running := start("ended"), start("running")
	zero := 0
	if _, _, err := db.EndJob(ctx, ended.ID, ledger.JobEnd{ExitCode: &zero}); err != nil {
		t.Fatal(err)
	}
	// A Slurm job's log is in its owner's working directory: never gc's.
	sj, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, Executor: ledger.ExecutorSlurm})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetEngineIDs(ctx, map[int64]ledger.EngineSubmit{sj.ID: {EngineID: "7", LogPath: "/home/a/runner-job-3.log"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.StartJob(ctx, sj.ID, ledger.JobStart{Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EndJob(ctx, sj.ID, ledger.JobEnd{ExitCode: &zero}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	files, err := db.EndedJobFiles(ctx, clock.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].ID != ended.ID || files[0].LogPath != "/logs/ended.log" || files[0].StatusPath != "/logs/ended.status" {
		t.Fatalf("ended job files %+v, want only job %d (job %d still runs)", files, ended.ID, running.ID)
	}
	if files, _ := db.EndedJobFiles(ctx, clock.Now().Add(-72*time.Hour)); len(files) != 0 {
		t.Errorf("a job that ended 48h ago is older than 72h: %+v", files)
	}
}

func TestVacuumShrinksLedgerAfterDeletes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := openAt(t, path, newClock())
	big := strings.Repeat("x", 4000)
	for i := 0; i < 300; i++ {
		if err := db.AddEvent(ctx, "test", "s", big); err != nil {
			t.Fatal(err)
		}
	}
	rawExec(t, path, `DELETE FROM events WHERE kind = 'test'`)
	before, after, err := db.Vacuum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before < 1<<20 || after > before/4 {
		t.Errorf("vacuum: %d -> %d bytes, want > 1 MiB shrunk to under a quarter", before, after)
	}
	// The ledger works as before.
	if err := db.AddEvent(ctx, "after", "", "still writable"); err != nil {
		t.Fatal(err)
	}
	ro := ledgertest.Open(t, path, ledger.Options{ReadOnly: true})
	if _, _, err := ro.Vacuum(ctx); err == nil {
		t.Error("vacuum through a read-only handle succeeded")
	}
}

func TestUploadAndJobStatsForMonitoring(t *testing.T) {
	ctx := context.Background()
	db, clock := openTemp(t)
	root := t.TempDir()
	a, b := observe(root, "offline-run-a", "aaa", t0), observe(root, "offline-run-b", "bbb", t0)
	bad := observe(root, "offline-run-bad", "bad", t0)
	bad.Meta.ReadError = "offset 42: bad checksum"
	mustUpsert(t, db, a, b, bad)
	mustReady(t, db, a.Dir, b.Dir)
	syncRun(t, db, clock, a.Dir, 3*time.Second)
	start := clock.Now()
	if _, err := db.Claim(ctx, "o", time.Hour, []string{b.Dir}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Second)
	if err := db.Complete(ctx, "o", []string{b.Dir}, ledger.Result{Outcome: ledger.OutcomeTransient, StartedAt: start,
		CountAttempt: true, NextAttemptAt: clock.Now(), MaxAttempts: 5, Error: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}

	outs, err := db.UploadOutcomes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if outs[ledger.OutcomeSuccess] != 1 || outs[ledger.OutcomeTransient] != 1 || outs[ledger.OutcomeAuth] != 0 {
		t.Errorf("upload outcomes %v, want 1 success and 1 transient", outs)
	}
	h, err := db.UploadDurations(ctx, []float64{1, 10, 100})
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 2 || h.Sum != 93 || !slices.Equal(h.Buckets, []uint64{0, 1, 2}) {
		t.Errorf("upload durations %+v, want 2 uploads of 3 s and 90 s", h)
	}
	if n, err := db.ReadErrors(ctx); err != nil || n != 1 {
		t.Errorf("read errors %d (%v), want 1", n, err)
	}

	submitted := clock.Now()
	j1, _ := db.SubmitJob(ctx, ledger.JobSpec{Name: "train", Argv: []string{"python", "train.py"}, GPUs: 2})
	if _, err := db.SubmitJob(ctx, ledger.JobSpec{Name: "waits", Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(20 * time.Second)
	if _, ok, err := db.StartJob(ctx, j1.ID, ledger.JobStart{GPUUUIDs: []string{"GPU-1", "GPU-0"}}); err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	allocs, err := db.GPUAllocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.GPUAllocation{{JobID: j1.ID, JobName: "train", GPUUUID: "GPU-0"}, {JobID: j1.ID, JobName: "train", GPUUUID: "GPU-1"}}
	if !slices.Equal(allocs, want) {
		t.Errorf("GPU allocations %+v, want %+v", allocs, want)
	}
	waits, err := db.QueueWaits(ctx, []float64{10, 60})
	if err != nil || waits.Count != 1 || waits.Sum != 20 || !slices.Equal(waits.Buckets, []uint64{0, 1}) {
		t.Errorf("queue waits %+v (%v), want one job that waited 20 s", waits, err)
	}
	oldest, err := db.OldestQueued(ctx)
	if err != nil || oldest == nil || !oldest.Equal(submitted.Truncate(time.Millisecond)) {
		t.Errorf("oldest queued %v (%v), want %v", oldest, err, submitted)
	}
}
