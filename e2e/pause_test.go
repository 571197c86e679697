package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// A `runner backfill --upload` from cron whose PATH has no wandb CLI
// pauses its own configuration, not the healthy daemon: the daemon keeps
// uploading, and `runner status` stays green while it lists the cron pause.
func TestCronWithoutCLIDoesNotPauseTheDaemon(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	start := time.Now().Add(-time.Hour)
	// cron backfills a tree of its own (same ledger), with a wandb that is not there.
	other := filepath.Join(t.TempDir(), "scratch")
	first := finishedRun(t, filepath.Join(other, "wandb"), "cron0001", start)
	age(t, first, time.Hour)
	cron := append(append([]string(nil), h.env...), "RUNNER_WANDB=wandb-not-on-this-path")
	saved := h.env
	h.env = cron
	_, errOut, code, hung := h.command(nil, time.Minute, "backfill", "--upload", other)
	h.env = saved
	if hung || code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("cron backfill without a CLI: exit %d, hung %v, want 1 naming the missing CLI\n%s", code, hung, errOut)
	}
	// The daemon, still running, uploads a new run and the cron one.
	second := finishedRun(t, filepath.Join(h.root, "proj", "wandb"), "cron0002", start.Add(time.Minute))
	age(t, second, time.Hour)
	h.waitStates(45*time.Second, map[string]ledger.State{"cron0001": ledger.StateSynced, "cron0002": ledger.StateSynced})

	out, code := h.run("status", "--json")
	var st struct {
		Uploads struct {
			Paused bool `json:"paused"`
		} `json:"uploads"`
		Pauses []struct {
			Config      string `json:"config"`
			HoldsDaemon bool   `json:"holds_daemon"`
		} `json:"pauses"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if code != 0 || st.Uploads.Paused {
		t.Errorf("status exit %d, uploads paused %v: the cron job paused the daemon\n%s", code, st.Uploads.Paused, out)
	}
	if code == 1 || len(st.Pauses) > 1 {
		t.Errorf("pauses %+v", st.Pauses)
	}
	for _, p := range st.Pauses {
		if p.HoldsDaemon || !strings.Contains(p.Config, "wandb-not-on-this-path") {
			t.Errorf("pause %+v: want the cron configuration, not holding the daemon", p)
		}
	}
	h.stopDaemon()
}

// Ctrl-C during `runner sync` stops cleanly: the hung upload is stopped, its
// runs go back to pending, and the output says what was uploaded and what is
// left, never an empty error.
func TestSyncInterruptedSaysWhatIsLeft(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_MODE=hang")
	start := time.Now().Add(-time.Hour)
	for _, id := range []string{"int00001", "int00002"} {
		age(t, finishedRun(t, filepath.Join(h.root, "p", "wandb"), id, start), time.Hour)
	}
	if _, code := h.run("backfill", h.root); code != 0 {
		t.Fatal("backfill failed")
	}
	cmd := exec.Command(h.runner, "sync")
	cmd.Env = h.env
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "the upload to start", func() bool {
		for _, r := range h.runs() {
			if r.State == ledger.StateUploading {
				return true
			}
		}
		return false
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("sync after Ctrl-C: %v, want exit 130", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("sync did not stop within 20 s of Ctrl-C")
	}
	got := out.String()
	if strings.Contains(got, "<nil>") || !strings.Contains(got, "interrupted: 0 run dirs uploaded, 2 left pending") {
		t.Errorf("output after Ctrl-C:\n%s\nwant each run's line and the summary, no <nil>", got)
	}
	for id, st := range h.statesByID() {
		if st != ledger.StatePending {
			t.Errorf("%s is %s after Ctrl-C, want pending", id, st)
		}
	}
}

// After kill -9 during uploads, the restarted daemon takes the dead
// process's leases over at once: uploads resume within seconds, not after
// the lease (a minute here) runs out.
func TestRestartAfterCrashResumesUploadsAtOnce(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_MODE=hang,ok", "RUNNER_LEASE=1m")
	start := time.Now().Add(-time.Hour)
	for _, id := range []string{"crash001", "crash002"} {
		age(t, finishedRun(t, filepath.Join(h.root, "p", "wandb"), id, start), time.Hour)
	}
	h.startDaemon()
	h.eventually(15*time.Second, "an upload to hold a lease", func() bool {
		for _, r := range h.runs() {
			if r.State == ledger.StateUploading {
				return true
			}
		}
		return false
	})
	h.killDaemon()
	// The fake picks its mode by call number, and a call killed with the
	// daemon may not have counted yet: say plainly that uploads now work
	// (exec keeps the last of two values), or the restart may draw "hang".
	h.env = append(h.env, "FAKE_WANDB_MODE=ok")
	restarted := time.Now()
	h.startDaemon()
	h.waitStates(20*time.Second, map[string]ledger.State{"crash001": ledger.StateSynced, "crash002": ledger.StateSynced})
	if took := time.Since(restarted); took > 10*time.Second {
		t.Errorf("uploads resumed %v after the restart, want within 10 s (the lease is 1m)", took)
	}
	if counts := h.uploadCounts(); counts["crash001"] > 1 || counts["crash002"] > 1 {
		t.Errorf("uploads %v: a run went up twice", counts)
	}
	h.stopDaemon()
}

// `runner unskip` puts a skipped run back; `runner sync --force` uploads a
// run that is not finished (from a repaired copy), but never one a process
// still writes.
func TestUnskipAndForce(t *testing.T) {
	h := newHarness(t, "RUNNER_SETTLE=1h")
	wandbDir := filepath.Join(h.root, "p", "wandb")
	done := finishedRun(t, wandbDir, "unsk0001", time.Now().Add(-time.Hour))
	age(t, done, time.Hour)
	open := newRun(t, wandbDir, "forc0001", time.Now())
	open.rows(0, 3) // no exit record, fresh: not ready for an hour
	if out, code := h.run("backfill", h.root); code != 0 || !strings.Contains(out, "not ready: 1 no exit record, still growing or not settled (--settle)") {
		t.Fatalf("backfill: exit %d, want it to say why the open run is not ready\n%s", code, out)
	}
	if out, code := h.run("skip", "unsk0001"); code != 0 || !strings.Contains(out, "skipped 1 run dir\n") {
		t.Fatalf("skip: exit %d\n%s", code, out)
	}
	if out, code := h.run("unskip", "unsk0001", "forc0001"); code != 0 || !strings.Contains(out, "unskipped 1 run dir\n") ||
		!strings.Contains(out, filepath.Base(open.dir)+": not skipped (active)") {
		t.Errorf("unskip: exit %d\n%s", code, out)
	}
	// The writer still holds the log open: --force refuses.
	if out, code := h.run("sync", "--force", "forc0001"); code != 1 || !strings.Contains(out, "not forced: a process holds") {
		t.Errorf("sync --force of a log held open: exit %d\n%s", code, out)
	}
	open.close()
	if out, code := h.run("sync", "--force", "forc0001"); code != 0 || !strings.Contains(out, "synced forc0001") {
		t.Errorf("sync --force: exit %d\n%s", code, out)
	}
	for _, r := range h.runs() {
		if r.RunID == "forc0001" && (r.State != ledger.StateSynced || r.Source != ledger.SourceRepaired) {
			t.Errorf("forced run: %s from %q, want synced from a repaired copy", r.State, r.Source)
		}
	}
	if out, code := h.run("sync", "--force"); code != 2 {
		t.Errorf("sync --force without runs: exit %d, want 2\n%s", code, out)
	}
}

// The daemon checks at start that uploads can work; `runner status` says
// so instead of "running", and `runner doctor` names each problem and its fix.
func TestStartCheckAndDoctor(t *testing.T) {
	h := newHarness(t)
	if out, code := h.run("doctor", "--watch", h.root, "--gpus", "none"); code != 0 ||
		!strings.Contains(out, "ok    wandb CLI     wandb, version") || !strings.Contains(out, "ok    API key       from WANDB_API_KEY") {
		t.Errorf("doctor with a CLI and a key: exit %d\n%s", code, out)
	}
	h.env = append(h.env, "RUNNER_WANDB=wandb-not-on-this-path", "WANDB_API_KEY=")
	if out, code := h.run("doctor", "--watch", h.root, "--gpus", "none"); code != 1 ||
		!strings.Contains(out, "fail  wandb CLI") || !strings.Contains(out, "fail  API key") || !strings.Contains(out, "fix: ") {
		t.Errorf("doctor without CLI and key: exit %d\n%s", code, out)
	}
	h.startDaemon()
	h.eventually(15*time.Second, "status to report the failed check", func() bool {
		out, code := h.run("status")
		return code == 1 && strings.Contains(out, "uploads:  failing: wandb CLI")
	})
	h.stopDaemon()
}

// A run dir moved away during its upload becomes missing; when it comes back
// unchanged, backfill and `sync RUN` see it again and it is uploaded once.
func TestMissingRunThatComesBackIsUploaded(t *testing.T) {
	h := newHarness(t)
	parent := filepath.Join(h.root, "p", "wandb")
	dir := finishedRun(t, parent, "back0001", time.Now().Add(-time.Hour))
	age(t, dir, time.Hour)
	if _, code := h.run("backfill", h.root); code != 0 {
		t.Fatal("backfill failed")
	}
	away := filepath.Join(t.TempDir(), "away")
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	if out, code := h.run("sync", "back0001"); code != 1 || !strings.Contains(out, "missing") {
		t.Fatalf("sync of a vanished run: exit %d\n%s", code, out)
	}
	if err := os.Rename(away, dir); err != nil {
		t.Fatal(err)
	}
	if out, code := h.run("backfill", h.root); code != 0 || strings.Contains(out, "1 unchanged") {
		t.Errorf("backfill after the dir came back: exit %d\n%s\nwant it recorded again, not unchanged", code, out)
	}
	if out, code := h.run("sync", "back0001"); code != 0 || !strings.Contains(out, "synced back0001") {
		t.Errorf("sync after the dir came back: exit %d\n%s", code, out)
	}
	if n := h.uploadCounts()["back0001"]; n != 1 {
		t.Errorf("uploaded %d times, want once", n)
	}
}
