package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func totalRecords(t *testing.T, dir string) int {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "run-*.wandb"))
	if len(matches) != 1 {
		t.Fatalf("%s: want one log, got %v", dir, matches)
	}
	info, err := wandbfile.ReadFile(matches[0], wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.Records {
		n += c
	}
	return n
}

// The daemon records runs created while it runs and uploads each finished
// one exactly once, complete, and never while it is still being written.
func TestDaemonUploadsEachFinishedRunOnce(t *testing.T) {
	h := newHarness(t)
	wandbDir := filepath.Join(h.root, "projA", "wandb")
	start := time.Now().Add(-time.Hour)

	// Already there before the daemon starts: a real legacy log (footer).
	copyFixture(t, "wandb__wandb/tests/assets/wandb/offline-run-20210216_154407-g9dvvkua", wandbDir)
	h.startDaemon()

	// A finished wandb-core run (ends at exit).
	fin := finishedRun(t, filepath.Join(h.root, "projB", "wandb"), "fin00001", start)

	// A killed run copied in: no exit record, torn tail, old mtime.
	kill := newRun(t, filepath.Join(h.root, "deep", "er", ".wandb"), "kill0001", start)
	kill.rows(0, 3)
	kill.do(kill.w.Torn(74))
	kill.close()
	age(t, kill.dir, time.Hour)

	// A legacy-style run that writes summary, final and footer after its exit record.
	leg := newRun(t, wandbDir, "legacy01", start.Add(time.Second))
	leg.rows(0, 4)
	leg.exit(0)
	time.Sleep(300 * time.Millisecond)
	leg.do(leg.w.Summary([]wandbtest.Item{wandbtest.Float("eval/acc", 0.9)}, nil))
	leg.do(leg.w.Final())
	leg.do(leg.w.Footer())
	leg.close()

	// A run that keeps growing for longer than --quiet and --settle, then finishes.
	grow := newRun(t, wandbDir, "grow0001", start.Add(2*time.Second))
	for i := 0; i < 8; i++ {
		grow.rows(i*2, 2)
		time.Sleep(500 * time.Millisecond)
		if n := h.uploadCounts()["grow0001"]; n != 0 {
			t.Fatalf("grow0001 uploaded while still being written")
		}
	}
	if st := h.statesByID()["grow0001"]; st != ledger.StateActive {
		t.Fatalf("growing run is %q, want active", st)
	}
	grow.exit(0)
	grow.close()

	h.waitStates(30*time.Second, map[string]ledger.State{
		"g9dvvkua": ledger.StateSynced, "fin00001": ledger.StateSynced, "kill0001": ledger.StateSynced,
		"legacy01": ledger.StateSynced, "grow0001": ledger.StateSynced,
	})
	// Let a few more daemon ticks pass: nothing may be uploaded again.
	time.Sleep(2500 * time.Millisecond)

	counts := h.uploadCounts()
	for _, id := range []string{"g9dvvkua", "fin00001", "kill0001", "legacy01", "grow0001"} {
		if counts[id] != 1 {
			t.Errorf("run %s uploaded %d times, want exactly once (all: %v)", id, counts[id], counts)
		}
	}
	byID := map[string]upload{}
	for _, u := range h.uploads() {
		byID[u.RunID] = u
		if !u.KeyOK || u.ArgvKey || u.Mode != "online" {
			t.Errorf("upload of %s: key_ok=%v argv_has_key=%v WANDB_MODE=%q; want key in env only, online", u.RunID, u.KeyOK, u.ArgvKey, u.Mode)
		}
	}
	if u := byID["legacy01"]; !u.Footer || !u.Finished {
		t.Errorf("legacy run uploaded before its footer was written: %+v", u)
	}
	for id, dir := range map[string]string{"fin00001": fin, "legacy01": leg.dir, "grow0001": grow.dir} {
		if got, want := byID[id].Records, totalRecords(t, dir); got != want {
			t.Errorf("run %s uploaded with %d records, the finished log has %d", id, got, want)
		}
	}
	// The killed run went up from a repaired copy: complete records only, and
	// the original dir carries the marker.
	if u := byID["kill0001"]; u.Torn || u.Dir == kill.dir {
		t.Errorf("killed run was not uploaded from a repaired copy: %+v", u)
	}
	if _, err := os.Stat(filepath.Join(kill.dir, "run-kill0001.wandb.synced")); err != nil {
		t.Errorf("repaired upload left no marker in the original dir: %v", err)
	}
	for _, r := range h.runs() {
		if r.RunID == "kill0001" && r.Source != ledger.SourceRepaired {
			t.Errorf("killed run source %q, want %q", r.Source, ledger.SourceRepaired)
		}
		if r.State == ledger.StateSynced && r.URL == "" {
			t.Errorf("run %s synced without a URL", r.RunID)
		}
	}

	out, code := h.run("status", "--json")
	if code != 0 {
		t.Errorf("status exit %d while the daemon runs, want 0:\n%s", code, out)
	}
	h.stopDaemon()
	out, code = h.run("status", "--json")
	var st struct {
		Daemon struct{ Up bool } `json:"daemon"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if code != 1 || st.Daemon.Up {
		t.Errorf("after SIGTERM status says up=%v exit %d, want down and exit 1", st.Daemon.Up, code)
	}
}

// SIGKILL during uploads, then a restart: every run ends synced, none lost.
func TestDaemonKilledDuringUploadsLosesNothing(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_DELAY=700ms")
	wandbDir := filepath.Join(h.root, "wandb")
	ids := []string{"k0000001", "k0000002", "k0000003", "k0000004", "k0000005", "k0000006"}
	for i, id := range ids {
		finishedRun(t, wandbDir, id, time.Now().Add(-time.Hour+time.Duration(i)*time.Second))
	}
	h.startDaemon()
	h.eventually(20*time.Second, "first upload started", func() bool {
		for _, r := range h.runs() {
			if r.State == ledger.StateUploading {
				return true
			}
		}
		return false
	})
	h.killDaemon()

	h.startDaemon()
	want := map[string]ledger.State{}
	for _, id := range ids {
		want[id] = ledger.StateSynced
	}
	h.waitStates(40*time.Second, want)
	counts := h.uploadCounts()
	for _, id := range ids {
		// The killed daemon's wandb sync children die with it (Pdeathsig),
		// so a run cut off by the kill is uploaded once, by the next daemon.
		if counts[id] != 1 {
			t.Errorf("run %s uploaded %d times, want exactly once", id, counts[id])
		}
	}
	h.stopDaemon()
}

// A cron backfill running beside the daemon never uploads a run twice.
func TestBackfillBesideDaemonNoDoubleUpload(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_DELAY=150ms")
	var ids []string
	for p := 0; p < 4; p++ {
		dir := filepath.Join(h.root, "p"+string(rune('a'+p)), "wandb")
		for i := 0; i < 5; i++ {
			id := "bf" + string(rune('a'+p)) + string(rune('0'+i)) + "xyz"
			ids = append(ids, id)
			d := finishedRun(t, dir, id, time.Now().Add(-2*time.Hour))
			age(t, d, time.Hour)
		}
	}
	h.startDaemon()
	done := make(chan int, 2)
	for range 2 {
		go func() {
			_, code := h.run("backfill", h.root, "--upload")
			done <- code
		}()
	}
	for range 2 {
		if code := <-done; code != 0 {
			t.Errorf("backfill beside the daemon exited %d, want 0", code)
		}
	}
	want := map[string]ledger.State{}
	for _, id := range ids {
		want[id] = ledger.StateSynced
	}
	h.waitStates(40*time.Second, want)
	time.Sleep(time.Second)
	counts := h.uploadCounts()
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("run %s uploaded %d times, want exactly once", id, counts[id])
		}
	}
	h.stopDaemon()
}

func copyFixture(t *testing.T, rel, dstParent string) string {
	t.Helper()
	src := filepath.Join("..", "testdata", "fixtures", rel)
	dst := filepath.Join(dstParent, filepath.Base(rel))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, r)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// SIGTERM while wandb sync hangs: the daemon stops the CLI's process group,
// the run goes back to pending (not lost, not stuck uploading), and the
// daemon exits 0 and shows as down.
func TestDaemonSIGTERMDuringUploadReleasesTheRun(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_MODE=hang", "RUNNER_LEASE=1m")
	d := finishedRun(t, filepath.Join(h.root, "wandb"), "hang0001", time.Now().Add(-time.Hour))
	age(t, d, time.Hour)
	h.startDaemon()
	h.waitStates(20*time.Second, map[string]ledger.State{"hang0001": ledger.StateUploading})
	start := time.Now()
	h.stopDaemon() // fails the test unless it exits 0
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("daemon took %v to stop with a hung wandb sync", took)
	}
	if st := h.statesByID()["hang0001"]; st != ledger.StatePending {
		t.Errorf("run is %s after SIGTERM, want pending", st)
	}
	if _, code := h.run("status"); code != 1 {
		t.Errorf("status exit %d after a clean stop, want 1 (down)", code)
	}
}

// A wandb sync child dies with a runner that is killed (SIGKILL, a crash):
// it must not go on uploading while the next process retries the run.
func TestKilledRunnerTakesItsWandbChildWithIt(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_MODE=hang")
	d := finishedRun(t, filepath.Join(h.root, "wandb"), "orphan01", time.Now().Add(-time.Hour))
	age(t, d, time.Hour)
	if _, code := h.run("backfill", h.root); code != 0 {
		t.Fatal("backfill failed")
	}
	cmd := exec.Command(h.runner, "sync")
	cmd.Env = h.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitStates(20*time.Second, map[string]ledger.State{"orphan01": ledger.StateUploading})
	var child int
	h.eventually(10*time.Second, "wandb sync child started", func() bool {
		child = processWithArg(d)
		return child != 0
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	h.eventually(15*time.Second, "wandb sync child gone", func() bool {
		return processWithArg(d) == 0
	})
}

// processWithArg returns the pid of a live process with arg on its command
// line, or 0.
func processWithArg(arg string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(st), ") Z ") {
			continue // a zombie is dead
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				return pid
			}
		}
	}
	return 0
}
