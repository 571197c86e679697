package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// Through the daemon's socket, a user's clean removes their own ended jobs
// only, --user of someone else is refused, and pause/resume (every user's
// queue) are root's.
func TestCleanAndPauseThroughTheSocket(t *testing.T) {
	group, pub, why := testGroup(t, "rc")
	if why != "" {
		t.Skipf("needs root and local users and groups to be created (%s)", why)
	}
	tag := strings.TrimPrefix(group, "rc")
	aliceHome, bobHome := filepath.Join(pub, "alice"), filepath.Join(pub, "bob")
	alice := localUser(t, "rca"+tag, group, aliceHome)
	bob := localUser(t, "rcb"+tag, group, bobHome)
	sock := filepath.Join(pub, "run", "runner.sock")
	h := newHarness(t, "RUNNER_SOCKET="+sock)
	h.startDaemon("--gpus", "fake:1", "--socket-group", group, "--job-units", "off")
	h.eventually(10*time.Second, "the daemon's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	as := func(cred *syscall.Credential, args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code, hung := h.command(cred, 30*time.Second, args...)
		if hung {
			t.Fatalf("runner %v as uid %d hung", args, cred.Uid)
		}
		return out, errOut, code
	}
	ended := map[*syscall.Credential]int64{}
	for cred, home := range map[*syscall.Credential]string{alice: aliceHome, bob: bobHome} {
		out, errOut, code := as(cred, "submit", "--hold", "--cwd", home, "--", "true")
		id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if code != 0 || err != nil {
			t.Fatalf("submit as uid %d: exit %d %q %q", cred.Uid, code, out, errOut)
		}
		if _, errOut, code := as(cred, "cancel", strconv.FormatInt(id, 10)); code != 0 {
			t.Fatalf("cancel as uid %d: exit %d %q", cred.Uid, code, errOut)
		}
		h.waitJob(id, ledger.JobCancelled)
		ended[cred] = id
	}
	if out, errOut, code := as(alice, "clean", "--user", "rcb"+tag); code != 1 || !strings.Contains(errOut, "only root may clean another user's jobs") {
		t.Errorf("alice's clean --user bob: exit %d %q %q; want 1 naming the rule", code, out, errOut)
	}
	if out, errOut, code := as(alice, "clean"); code != 0 || !strings.HasPrefix(out, "removed 1 ended job") {
		t.Errorf("alice's clean: exit %d %q %q; want her one job removed", code, out, errOut)
	}
	list := h.runOK("jobs", "--all", "--no-header", "--format", "id")
	if strings.Contains(" "+strings.Join(strings.Fields(list), " ")+" ", " "+strconv.FormatInt(ended[alice], 10)+" ") ||
		!strings.Contains(list, strconv.FormatInt(ended[bob], 10)) {
		t.Errorf("after alice's clean the ledger has jobs %q; want bob's %d and not alice's %d", list, ended[bob], ended[alice])
	}
	for _, verb := range []string{"pause", "resume"} {
		if _, errOut, code := as(bob, verb); code != 1 || !strings.Contains(errOut, "only root may pause or resume") {
			t.Errorf("bob's %s: exit %d %q; want 1, root's", verb, code, errOut)
		}
	}
	if out := h.runOK("pause"); !strings.Contains(out, "job queue paused") {
		t.Errorf("root's pause: %q", out)
	}
}
