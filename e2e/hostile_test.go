package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// replaceWithFIFO swaps a run's log for a FIFO, or (via) for a symlink to a
// FIFO outside the tree.
func replaceWithFIFO(t *testing.T, dir, id string, via bool) string {
	t.Helper()
	log := filepath.Join(dir, "run-"+id+".wandb")
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	target := log
	if via {
		target = filepath.Join(t.TempDir(), "elsewhere.fifo")
	}
	if err := syscall.Mkfifo(target, 0o644); err != nil {
		t.Fatal(err)
	}
	if via {
		if err := os.Symlink(target, log); err != nil {
			t.Fatal(err)
		}
	}
	return log
}

// A log replaced by a FIFO (or a symlink to one) once hung backfill,
// inspect and the daemon, which then ignored SIGTERM. Now nothing opens it:
// the commands end, the daemon keeps beating and uploading, stops on
// SIGTERM, and the run keeps its row.
func TestFIFOLogHangsNothing(t *testing.T) {
	h := newHarness(t)
	wandbDir := filepath.Join(h.root, "proj", "wandb")
	start := time.Now().Add(-time.Hour)
	var dirs = map[string]string{}
	for _, id := range []string{"fifo0001", "link0001"} {
		r := newRun(t, wandbDir, id, start)
		r.rows(0, 3) // no exit record: stays active while fresh
		r.close()
		dirs[id] = r.dir
	}
	if _, errOut, code, hung := h.command(nil, 20*time.Second, "backfill", h.root); hung || code != 0 {
		t.Fatalf("first backfill: exit %d, hung %v\n%s", code, hung, errOut)
	}
	fifo := replaceWithFIFO(t, dirs["fifo0001"], "fifo0001", false)
	replaceWithFIFO(t, dirs["link0001"], "link0001", true)

	_, errOut, code, hung := h.command(nil, 10*time.Second, "backfill", h.root)
	if hung {
		t.Fatalf("backfill over a tree with a FIFO log did not end within 10 s\n%s", errOut)
	}
	if code != 0 {
		t.Errorf("backfill exit %d, want 0\n%s", code, errOut)
	}
	_, errOut, code, hung = h.command(nil, 10*time.Second, "inspect", fifo)
	if hung || code != 1 || !strings.Contains(errOut, "not a regular file") {
		t.Errorf("inspect FIFO: exit %d, hung %v, stderr %q; want exit 1 naming 'not a regular file'", code, hung, errOut)
	}
	_, errOut, code, hung = h.command(nil, 10*time.Second, "inspect", dirs["link0001"])
	if hung || code != 1 {
		t.Errorf("inspect a run dir whose log is a symlink to a FIFO: exit %d, hung %v, stderr %q; want exit 1", code, hung, errOut)
	}

	// The daemon, started over the same ledger and tree: its loops go on.
	h.startDaemon()
	beat := func() time.Time {
		out, _ := h.run("status", "--json")
		var st struct {
			Daemon struct {
				HeartbeatAt time.Time `json:"heartbeat_at"`
			} `json:"daemon"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return st.Daemon.HeartbeatAt
	}
	first := beat()
	fin := finishedRun(t, wandbDir, "okay0001", start)
	h.waitStates(30*time.Second, map[string]ledger.State{"okay0001": ledger.StateSynced})
	h.eventually(15*time.Second, "a heartbeat after the first", func() bool { return beat().After(first) })
	states := h.statesByID()
	for _, id := range []string{"fifo0001", "link0001"} {
		if states[id] != ledger.StateActive {
			t.Errorf("run %s with a FIFO log is %q, want it kept active", id, states[id])
		}
	}
	if _, err := os.Stat(filepath.Join(fin, "run-okay0001.wandb.synced")); err != nil {
		t.Errorf("finished run beside the FIFO not uploaded: %v", err)
	}
	h.stopDaemon()
}
