package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// fuseMirror mounts src on dst with bindfs, a FUSE file system that shows
// src's files. Like an NFS or Lustre client it hears nothing of writes made
// to src directly (another host writing to the server): inotify on dst sees
// only what is written through dst, while stat through dst sees every
// change. Skipped, saying why, where bindfs or FUSE is not available.
func fuseMirror(t *testing.T, src, dst string) {
	t.Helper()
	bindfs, err := exec.LookPath("bindfs")
	if err != nil {
		t.Skip("bindfs not found (apt-get install -y bindfs): the shared file system test cannot run")
	}
	if out, err := exec.Command(bindfs, src, dst).CombinedOutput(); err != nil {
		t.Skipf("bindfs %s %s: %v: %s (no FUSE here?)", src, dst, err, out)
	}
	// Lazily: the daemon, stopped by a later cleanup, may still watch it.
	t.Cleanup(func() {
		umount := exec.Command("umount", "-l", dst)
		if os.Geteuid() != 0 {
			umount = exec.Command("fusermount", "-u", "-z", dst)
		}
		if out, err := umount.CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dst, err, out)
		}
	})
}

// Runs that compute nodes write to a shared file system: the daemon watching
// the mount hears nothing of them through inotify; with --poll it finds them
// by directory mtimes, and they are uploaded on their exit record (the
// settle rule is off there: no local process can be seen holding a log).
func TestPollFindsRunsWrittenBehindASharedMount(t *testing.T) {
	// No periodic rescan: only inotify, or the poll, can find a new run.
	h := newHarness(t, "RUNNER_RECONCILE=1h")
	server := t.TempDir() // what the other hosts write to
	fuseMirror(t, server, h.root)
	behind := filepath.Join(server, "proj", "wandb")
	through := filepath.Join(h.root, "proj", "wandb")
	if err := os.MkdirAll(behind, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)

	// scanned waits for the daemon's start-up scan: a run written before it
	// ends is found by the scan, not by watching.
	scanned := func() {
		h.eventually(30*time.Second, "the start-up scan", func() bool {
			b, _ := os.ReadFile(h.stderr.Name())
			return strings.Contains(string(b), "rescan done")
		})
	}

	// Without --poll: a run written through the mount is found, one written
	// behind it is not.
	h.startDaemon()
	scanned()
	finishedRun(t, behind, "remote01", start)
	finishedRun(t, through, "local001", start.Add(time.Second))
	h.waitStates(30*time.Second, map[string]ledger.State{"local001": ledger.StateSynced})
	if st, ok := h.statesByID()["remote01"]; ok {
		t.Fatalf("without --poll the daemon recorded a run written behind the mount (%s): the mount is not blind as NFS is", st)
	}
	h.stopDaemon()

	// With --poll: the start-up scan finds the first; one written behind the
	// mount while the daemon runs is found and uploaded, and so is one that
	// is still being written when found and finishes later.
	h.startDaemon("--poll", "1s")
	scanned()
	h.waitStates(30*time.Second, map[string]ledger.State{"remote01": ledger.StateSynced})
	written := time.Now()
	finishedRun(t, behind, "remote02", start.Add(2*time.Second))
	growing := newRun(t, behind, "remote03", start.Add(3*time.Second))
	growing.rows(0, 3)
	var found time.Duration
	h.eventually(30*time.Second, "the runs written behind the mount recorded", func() bool {
		got := h.statesByID()
		_, ok2 := got["remote02"]
		_, ok3 := got["remote03"]
		found = time.Since(written)
		return ok2 && ok3
	})
	t.Logf("a run written behind the mount was in the ledger %s later (--poll 1s)", found.Round(10*time.Millisecond))
	h.waitStates(30*time.Second, map[string]ledger.State{"remote02": ledger.StateSynced})
	// No exit record yet, and no local writer to see: it stays active.
	time.Sleep(3 * time.Second) // past RUNNER_SETTLE, which would otherwise call it done
	if st := h.statesByID()["remote03"]; st != ledger.StateActive {
		t.Errorf("a run still being written behind the mount is %s; want active until its exit record", st)
	}
	growing.rows(3, 6)
	growing.exit(0)
	growing.close()
	h.waitStates(30*time.Second, map[string]ledger.State{"remote03": ledger.StateSynced})
	h.stopDaemon()
}
