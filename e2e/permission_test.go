package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// unprivileged returns the credentials to run runner as a user for whom file
// permissions bite: the test's own user when it is not root; as root (CI),
// `nobody`, or a user created for the test. nil when neither exists.
func unprivileged(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil // permissions already bite
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "runner-e2e").CombinedOutput(); err != nil {
			t.Skipf("running as root and no unprivileged user to drop to (no nobody; useradd: %v: %s)", err, out)
		}
		if u, err = user.Lookup("runner-e2e"); err != nil {
			t.Skipf("running as root and no unprivileged user to drop to: %v", err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// chownTree gives a tree to cred's user and opens the dirs above it for
// traversal (t.TempDir makes them 0700).
func chownTree(t *testing.T, root string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	for d := filepath.Dir(root); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A run dir the wandb CLI cannot write its marker into: the CLI uploads
// the run, then fails with a PermissionError that quotes the marker's path.
// That is neither an auth failure nor worth a retry: the run fails at once
// with a reason that names the fix, other runs keep uploading, and further
// syncs do not upload it again.
func TestMarkerPermissionErrorFailsThatRunOnly(t *testing.T) {
	h := newHarness(t, "FAKE_WANDB_STYLE=legacy")
	cred := unprivileged(t)
	start := time.Now().Add(-time.Hour)
	// Names that once fooled the classifier into "auth".
	locked := finishedRun(t, filepath.Join(h.root, "forbidden", "wandb"), "lock0001", start)
	good := finishedRun(t, filepath.Join(h.root, "unauthorized", "wandb"), "good0001", start.Add(time.Minute))
	age(t, locked, time.Hour)
	age(t, good, time.Hour)
	// Everything belongs to the unprivileged user but the locked run dir.
	chownTree(t, filepath.Dir(h.root), cred)
	if cred != nil {
		if err := os.Chown(locked, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })

	out, errOut, code, _ := h.command(cred, time.Minute, "backfill", "--upload", "--json", h.root)
	if code != 1 {
		t.Errorf("backfill --upload: exit %d, want 1 (one upload failed)\n%s\n%s", code, out, errOut)
	}
	for range 2 {
		h.command(cred, time.Minute, "sync")
	}
	counts := h.uploadCounts()
	if counts["lock0001"] != 1 || counts["good0001"] != 1 {
		t.Errorf("uploads %v: want the locked run and the good one uploaded exactly once each", counts)
	}
	byID := map[string]ledger.Run{}
	for _, r := range h.runs() {
		byID[r.RunID] = r
	}
	lr := byID["lock0001"]
	if lr.State != ledger.StateFailed || lr.Attempts != 1 {
		t.Errorf("locked run: %s after %d attempts, want failed after 1", lr.State, lr.Attempts)
	}
	for _, want := range []string{"could not write its .synced marker", "make " + locked + " writable", "runner sync --retry"} {
		if !strings.Contains(lr.Reason+lr.LastError, want) {
			t.Errorf("locked run reason %q / last error %q: want it to say %q", lr.Reason, lr.LastError, want)
		}
	}
	if st := byID["good0001"].State; st != ledger.StateSynced {
		t.Errorf("good run is %s, want synced", st)
	}
	out, _, _, _ = h.command(cred, time.Minute, "status", "--json")
	var st struct {
		Uploads struct {
			Paused bool   `json:"paused"`
			Reason string `json:"reason"`
		} `json:"uploads"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Uploads.Paused {
		t.Errorf("uploads paused (%q) by a local permission error", st.Uploads.Reason)
	}
}
