package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// The crash loop, bounded for CI: 150 runs, uploads that take time, 25
// SIGKILLs of the daemon at random moments, each followed by a restart.
// Then every run is synced, none was uploaded twice, the ledger passes its
// integrity check, and the last restart uploads within seconds.
func TestCrashLoopLosesNothingUploadsNothingTwice(t *testing.T) {
	// Calls of 8 runs taking about 0.6 s: most kills land inside one.
	h := newHarness(t, "FAKE_WANDB_DELAY=400ms", "FAKE_WANDB_RUN_DELAY=100ms", "RUNNER_BATCH=8", "RUNNER_LEASE=1m")
	const n, kills = 150, 25
	want := map[string]ledger.State{}
	for i := range n {
		id := fmt.Sprintf("cl%06d", i)
		dir := finishedRun(t, filepath.Join(h.root, fmt.Sprintf("p%02d", i/10), "wandb"), id, time.Now().Add(-2*time.Hour))
		age(t, dir, time.Hour)
		want[id] = ledger.StateSynced
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		h.startDaemon()
		time.Sleep(time.Duration(50+r.IntN(750)) * time.Millisecond)
		h.killDaemon()
		if k == kills/2 {
			t.Logf("after %d kills: %d runs synced", k+1, countSynced(h))
		}
	}
	before := countSynced(h)
	restarted := time.Now()
	h.startDaemon()
	if before < n {
		h.eventually(10*time.Second, "an upload after the last restart", func() bool { return countSynced(h) > before })
		t.Logf("first upload %v after the last restart (%d of %d synced before it)", time.Since(restarted).Round(10*time.Millisecond), before, n)
	}
	h.waitStates(90*time.Second, want)
	for id, c := range h.uploadCounts() {
		if c != 1 {
			t.Errorf("run %s uploaded %d times, want once", id, c)
		}
	}
	h.stopDaemon()
	db := ledgertest.Open(t, h.db, ledger.Options{ReadOnly: true})
	if err := db.QuickCheck(context.Background()); err != nil {
		t.Errorf("ledger after %d kills: %v", kills, err)
	}
}

func countSynced(h *harness) int {
	n := 0
	for _, r := range h.runs() {
		if r.State == ledger.StateSynced {
			n++
		}
	}
	return n
}

// The same loop with jobs running: a job's supervisor outlives the daemon
// and records how the job ended, so every job ends with its true exit code
// however often the daemon is killed while it runs, starts or reaps it.
func TestCrashLoopJobsKeepTheirExitCodes(t *testing.T) {
	h := newHarness(t)
	const kills = 12
	r := rand.New(rand.NewPCG(3, 4))
	want := map[int64]int{}
	killedAmidJobs := 0
	for k := range kills {
		// Two new jobs a round, so jobs start, run and end across the kills.
		for i := range 2 {
			code := (2*k + i) % 4
			script := fmt.Sprintf("sleep %d.%d; exit %d", r.IntN(2), r.IntN(10), code)
			want[h.submit("--gpus", "0", "--name", fmt.Sprintf("j%d-%d", k, i), "--", "sh", "-c", script)] = code
		}
		// Enough CPU slots that the jobs run as they come: this test is
		// about crashes, not about the queue (the default is the CPUs).
		h.startDaemon("--gpus", "none", "--cpu-slots", "32")
		time.Sleep(time.Duration(100+r.IntN(600)) * time.Millisecond)
		if out, _ := h.run("jobs", "--state", "running"); strings.Contains(out, "running") {
			killedAmidJobs++
		}
		h.killDaemon()
	}
	// Otherwise the loop proved nothing about jobs.
	if killedAmidJobs < kills/3 {
		t.Fatalf("only %d of %d kills came while jobs ran", killedAmidJobs, kills)
	}
	t.Logf("%d of %d kills came while jobs ran", killedAmidJobs, kills)
	h.startDaemon("--gpus", "none", "--cpu-slots", "32")
	for id, code := range want {
		state := ledger.JobSucceeded
		if code != 0 {
			state = ledger.JobFailed
		}
		j := h.waitJob(id, state)
		if j.ExitCode == nil || *j.ExitCode != code {
			t.Errorf("job %d: exit code %v, want %d", id, j.ExitCode, code)
		}
		if j.Attempts != 1 {
			t.Errorf("job %d: %d attempts, want 1 (never started twice)", id, j.Attempts)
		}
	}
	h.stopDaemon()
}

// With the daemon down, `runner cancel` stops a running job itself (its
// supervisor outlives the daemon), and the daemon, when back, records the
// job cancelled.
func TestCancelWithTheDaemonDown(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "none")
	id := h.submit("--gpus", "0", "sleep", "300")
	j := h.waitJob(id, ledger.JobRunning)
	h.eventually(10*time.Second, "the job's pid recorded", func() bool { j = h.job(id); return j.PID != 0 })
	h.killDaemon()
	out, code := h.run("cancel", strconv.FormatInt(id, 10))
	if code != 0 || !strings.Contains(out, "the daemon is down; stopping its processes") || !strings.Contains(out, "stopped") {
		t.Fatalf("cancel with the daemon down: exit %d\n%s", code, out)
	}
	if jobs.Alive(j.PID, j.StartTicks) {
		t.Fatalf("job %d's process %d still runs after cancel", id, j.PID)
	}
	h.startDaemon("--gpus", "none")
	h.waitJob(id, ledger.JobCancelled)
	h.stopDaemon()
}
