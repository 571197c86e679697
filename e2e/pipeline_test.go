package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
)

// submit runs `runner submit ARGS` and returns the job id.
func (h *harness) submit(args ...string) int64 {
	h.t.Helper()
	out, code := h.run(append([]string{"submit"}, args...)...)
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if code != 0 || err != nil {
		h.t.Fatalf("runner submit %v: exit %d, output %q", args, code, out)
	}
	return id
}

func (h *harness) job(id int64) ledger.Job {
	h.t.Helper()
	db, err := ledger.Open(context.Background(), h.db, ledger.Options{ReadOnly: true})
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	j, err := db.GetJob(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

func (h *harness) waitJob(id int64, want ledger.JobState) ledger.Job {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j := h.job(id)
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after 20s waiting for job %d %s; it is %s (%q), attempts %d", id, want, j.State, j.Reason, j.Attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A two-stage pipeline whose stages log into one W&B run: both run dirs go
// up in one wandb sync call, stage 1 first, once, and only after stage 2 ended.
func TestPipelineStagesUploadTogetherAfterTheLastStage(t *testing.T) {
	h := newHarness(t)
	fakejob := testbin.Build(t, "./testdata/fakejob", "fakejob")
	h.startDaemon("--gpus", "fake:2", "--sample-interval", "200ms")

	// Stage 1 runs long enough for stage 2 to be queued behind it, as an
	// orchestrator submitting the whole pipeline at once does.
	train := h.submit("--gpus", "1", "--name", "train", "--", fakejob, "-stage", "train", "-sleep", "700ms")
	// Stage 2 keeps running well past stage 1's quiet period (RUNNER_QUIET=2s; it ends 2.5 s after stage 1).
	eval := h.submit("--gpus", "1", "--name", "eval", "--after", strconv.FormatInt(train, 10), "--same-run",
		"--", fakejob, "-stage", "eval", "-sleep", "2500ms")

	j1 := h.waitJob(train, ledger.JobSucceeded)
	if len(j1.GPUUUIDs) != 1 {
		t.Fatalf("train job GPUs %v, want one fake GPU", j1.GPUUUIDs)
	}
	h.waitJob(eval, ledger.JobRunning)
	// Stage 1 is finished (exit record, quiet), but its run must wait for stage 2.
	time.Sleep(1500 * time.Millisecond)
	if n := len(h.uploads()); n != 0 {
		t.Fatalf("%d files uploaded while stage 2 was still running", n)
	}
	j2 := h.waitJob(eval, ledger.JobSucceeded)
	if j2.RunID != j1.RunID {
		t.Fatalf("stage 2 run id %s, want stage 1's %s", j2.RunID, j1.RunID)
	}
	h.waitStates(20*time.Second, map[string]ledger.State{j1.RunID: ledger.StateSynced})
	// Let a second (wrong) upload show up if there were going to be one.
	time.Sleep(500 * time.Millisecond)

	ups := h.uploads()
	if len(ups) != 2 {
		t.Fatalf("uploaded %d files, want the 2 stages once each: %+v", len(ups), ups)
	}
	if ups[0].PID != ups[1].PID {
		t.Errorf("stages uploaded by different wandb sync calls (pids %d and %d)", ups[0].PID, ups[1].PID)
	}
	if !strings.Contains(filepath.Base(ups[0].Dir), j1.RunID) || ups[0].Dir == ups[1].Dir {
		t.Errorf("upload order %s, %s", ups[0].Dir, ups[1].Dir)
	}
	if !ups[0].At.After(*j2.EndedAt) {
		t.Errorf("uploaded at %s, before stage 2 ended at %s", ups[0].At, j2.EndedAt)
	}
	byDir := map[string]ledger.Run{}
	for _, r := range h.runs() {
		byDir[r.Dir] = r
	}
	first, second := byDir[ups[0].Dir], byDir[ups[1].Dir]
	if first.JobID == nil || *first.JobID != train || second.JobID == nil || *second.JobID != eval {
		t.Errorf("run dirs linked to jobs %v and %v, want %d (train) then %d (eval)", first.JobID, second.JobID, train, eval)
	}
	if first.HistoryRows != 5 {
		t.Errorf("stage 1 run has %d history rows, want 5", first.HistoryRows)
	}

	// The CLI views of the same facts.
	out, code := h.run("jobs", "--json")
	var listed []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 || listed[1]["run_id"] != j1.RunID {
		t.Fatalf("runner jobs --json: exit %d, %s", code, out)
	}
	out, _ = h.run("logs", strconv.FormatInt(eval, 10))
	if !strings.Contains(out, "stage eval of run "+j1.RunID) {
		t.Errorf("runner logs: %q", out)
	}
	out, _ = h.run("runs")
	if !strings.Contains(out, "JOB") {
		t.Errorf("runner runs has no job column: %s", out)
	}
	h.stopDaemon()
}

// SIGKILL the daemon while jobs run: they keep running; the next daemon
// records the exit of the one that ended meanwhile and adopts the other.
func TestDaemonKilledWhileJobsRunAdoptsThemOnRestart(t *testing.T) {
	h := newHarness(t)
	fakejob := testbin.Build(t, "./testdata/fakejob", "fakejob")
	gate := t.TempDir()
	h.startDaemon("--gpus", "fake:2", "--sample-interval", "200ms")
	a := h.submit("--gpus", "1", "--", fakejob, "-stage", "train", "-exit", "3", "-wait", filepath.Join(gate, "a"))
	b := h.submit("--gpus", "1", "--", fakejob, "-stage", "train", "-wait", filepath.Join(gate, "b"))
	ja := h.waitJob(a, ledger.JobRunning)
	jb := h.waitJob(b, ledger.JobRunning)
	h.eventually(10*time.Second, "job pids recorded", func() bool { return h.job(a).PID > 0 && h.job(b).PID > 0 })
	h.killDaemon()

	if err := os.WriteFile(filepath.Join(gate, "a"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "job a's process to end", func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(h.job(a).PID))
		return os.IsNotExist(err)
	})
	h.startDaemon("--gpus", "fake:2", "--sample-interval", "200ms")
	ja = h.waitJob(a, ledger.JobFailed)
	if ja.ExitCode == nil || *ja.ExitCode != 3 {
		t.Fatalf("job that ended while the daemon was down: exit %v, want 3", ja.ExitCode)
	}
	if j := h.job(b); j.State != ledger.JobRunning || j.PID != h.job(b).PID || j.PID == 0 {
		t.Fatalf("job b after restart: %s pid %d", j.State, j.PID)
	}
	if err := os.WriteFile(filepath.Join(gate, "b"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	jb = h.waitJob(b, ledger.JobSucceeded)
	if jb.ExitCode == nil || *jb.ExitCode != 0 || jb.Attempts != 1 {
		t.Fatalf("adopted job: exit %v after %d attempts, want exit 0 in 1", jb.ExitCode, jb.Attempts)
	}
	h.waitStates(20*time.Second, map[string]ledger.State{ja.RunID: ledger.StateSynced, jb.RunID: ledger.StateSynced})
	if c := h.uploadCounts(); c[ja.RunID] != 1 || c[jb.RunID] != 1 {
		t.Errorf("upload counts %v, want each job's run once", c)
	}
	h.stopDaemon()
}
