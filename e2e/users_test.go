package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// localUser creates a user in group for the test and removes it after.
func localUser(t *testing.T, name, group, home string) *syscall.Credential {
	t.Helper()
	if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", home, "--gid", group, "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a local user for the test (useradd: %v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// testGroup creates a group with a random name for the test (removed after)
// and a 0755 dir its users can reach; ok is false, and the test goes on
// without, where groupadd cannot run (why says why).
func testGroup(t *testing.T, prefix string) (group, pub, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", "", "not root"
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		return "", "", "no useradd"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	group = prefix + hex.EncodeToString(b[:])
	if out, err := exec.Command("groupadd", group).CombinedOutput(); err != nil {
		return "", "", fmt.Sprintf("groupadd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("groupdel", group).Run() })
	pub, err := os.MkdirTemp("", "runner-users-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	return group, pub, ""
}

// One root daemon serves every user of the box: users who may not write the
// ledger submit, list, read and cancel through its socket; a job runs as its
// submitter, with their environment minus the API key; nobody but its owner
// (or root) may cancel it or read its output.
func TestEveryUserOneDaemon(t *testing.T) {
	// Homes and the socket live where the users can reach them (pub); the
	// ledger stays in the test's 0700 dir, which they cannot even enter.
	group, pub, why := testGroup(t, "rt")
	if why != "" {
		t.Skipf("needs root and local users and groups to be created (%s)", why)
	}
	tag := strings.TrimPrefix(group, "rt")
	alice := localUser(t, "rta"+tag, group, filepath.Join(pub, "alice"))
	bob := localUser(t, "rtb"+tag, group, filepath.Join(pub, "bob"))
	sock := filepath.Join(pub, "run", "runner.sock")

	h := newHarness(t, "RUNNER_SOCKET="+sock)
	h.startDaemon("--gpus", "fake:1", "--socket-group", group, "--job-units", "off")
	h.eventually(10*time.Second, "the daemon's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o660 || st.Sys().(*syscall.Stat_t).Gid != alice.Gid {
		t.Fatalf("socket %s: %v mode %v, want 0660 and group %s", sock, err, st.Mode(), group)
	}

	as := func(cred *syscall.Credential, env []string, args ...string) (string, string, int) {
		t.Helper()
		saved := h.env
		h.env = append(append([]string{}, h.env...), env...)
		defer func() { h.env = saved }()
		out, errOut, code, hung := h.command(cred, 30*time.Second, args...)
		if hung {
			t.Fatalf("runner %v as uid %d hung", args, cred.Uid)
		}
		return out, errOut, code
	}
	aliceHome := filepath.Join(pub, "alice")
	out, errOut, code := as(alice, []string{"MY_VAR=from-alice", "HOME=" + aliceHome},
		"submit", "--cwd", aliceHome, "--name", "alices", "--", "sh", "-c",
		`echo "uid=$(id -u) groups=$(id -G) home=$HOME user=$USER my=$MY_VAR key=$WANDB_API_KEY pwd=$(pwd)"; exec sleep 60`)
	if code != 0 {
		t.Fatalf("alice's submit: exit %d, %q %q", code, out, errOut)
	}
	id, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	sid := strconv.FormatInt(id, 10)
	j := h.waitJob(id, ledger.JobRunning)
	aliceName := "rta" + tag
	if j.OwnerUID != int(alice.Uid) || j.Owner != aliceName {
		t.Errorf("job owner %s (%d), want %s (%d)", j.Owner, j.OwnerUID, aliceName, alice.Uid)
	}
	h.eventually(10*time.Second, "the job's first line", func() bool { return strings.Contains(readAll(t, j.LogPath), "uid=") })
	want := "uid=" + strconv.Itoa(int(alice.Uid)) + " groups=" + strconv.Itoa(int(alice.Gid)) + " home=" + aliceHome +
		" user=" + aliceName + " my=from-alice key= pwd=" + aliceHome + "\n"
	if got := readAll(t, j.LogPath); got != want {
		t.Errorf("alice's job printed %q, want %q", got, want)
	}
	if st, err := os.Stat(j.LogPath); err != nil || st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != alice.Uid {
		t.Errorf("job log %s: %v, mode %v; want 0600 owned by alice", j.LogPath, err, st.Mode())
	}

	// Bob may list it, but neither read its output nor cancel it.
	out, _, code = as(bob, nil, "jobs")
	if code != 0 || !strings.Contains(out, aliceName) || !strings.Contains(out, "OWNER") {
		t.Errorf("bob's jobs: exit %d\n%s", code, out)
	}
	for _, cmd := range [][]string{{"cancel", sid}, {"logs", sid}, {"update", sid, "--priority", "1"}} {
		_, errOut, code = as(bob, nil, cmd...)
		if code != 1 || !strings.Contains(errOut, "belongs to "+aliceName) {
			t.Errorf("bob's %v: exit %d, %q; want 1 and who it belongs to", cmd, code, errOut)
		}
	}
	if got := h.job(id); got.State != ledger.JobRunning || got.CancelRequested {
		t.Fatalf("bob's cancel touched alice's job: %s, cancel requested %v", got.State, got.CancelRequested)
	}
	// Alice reads it and cancels it.
	out, _, code = as(alice, nil, "logs", sid)
	if code != 0 || out != want {
		t.Errorf("alice's logs: exit %d, %q", code, out)
	}
	if out, errOut, code = as(alice, nil, "cancel", sid); code != 0 {
		t.Errorf("alice's cancel: exit %d, %q %q", code, out, errOut)
	}
	h.waitJob(id, ledger.JobCancelled)

	// A sweep file is read by the user's CLI, never by the root daemon: a
	// file only root may read is refused, the user's own works.
	secret := filepath.Join(t.TempDir(), "root-only.yaml")
	if err := os.WriteFile(secret, []byte("password: [hunter2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := as(alice, nil, "submit", "--sweep", secret, "--", "true"); code != 2 || !strings.Contains(errOut, "permission denied") {
		t.Errorf("sweep over a root-only file: exit %d, %q; want 2, permission denied", code, errOut)
	}
	grid := filepath.Join(aliceHome, "grid.yaml")
	if err := os.WriteFile(grid, []byte("lr: [1, 2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(grid, int(alice.Uid), int(alice.Gid)); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := as(alice, nil, "submit", "--hold", "--sweep", grid, "--", "echo"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("alice's sweep: exit %d, %q %q", code, out, errOut)
	} else {
		h.runOK("cancel", strings.TrimSpace(out))
	}

	// --output is opened as its owner: alice's own file is hers; a dir only
	// root may write refuses her job rather than letting root write there.
	out, errOut, code = as(alice, nil, "submit", "--cwd", aliceHome, "--output", "%x-%j.out", "--name", "o", "--", "sh", "-c", "echo hi; echo oops >&2")
	idOut, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if code != 0 || err != nil {
		t.Fatalf("alice's submit --output: exit %d, %q %q", code, out, errOut)
	}
	h.waitJob(idOut, ledger.JobSucceeded)
	outFile := filepath.Join(aliceHome, "o-"+strconv.FormatInt(idOut, 10)+".out")
	if st, err := os.Stat(outFile); err != nil || st.Sys().(*syscall.Stat_t).Uid != alice.Uid || readAll(t, outFile) != "hi\noops\n" {
		t.Errorf("alice's --output file %s: %v, %q; want hers with both streams", outFile, err, readAll(t, outFile))
	}
	if out, _, code := as(alice, nil, "logs", strconv.FormatInt(idOut, 10)); code != 0 || out != "hi\noops\n" {
		t.Errorf("alice's logs of her --output job: exit %d, %q", code, out)
	}
	rootOnly := t.TempDir()
	if err := os.Chmod(rootOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = as(alice, nil, "submit", "--cwd", aliceHome, "--output", rootOnly+"/x.out", "--", "true")
	idRoot, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if code != 0 || err != nil {
		t.Fatalf("alice's submit --output into root's dir: exit %d, %q %q", code, out, errOut)
	}
	if j := h.waitJob(idRoot, ledger.JobFailed); !strings.Contains(j.Reason, "permission denied") {
		t.Errorf("--output into a dir only root may write: reason %q, want permission denied", j.Reason)
	}
	if _, err := os.Stat(rootOnly + "/x.out"); err == nil {
		t.Errorf("root created %s for alice", rootOnly+"/x.out")
	}

	// With the daemon down, a user is told why nothing answers, and an
	// owner still stops their own job (found among their processes).
	out, errOut, code = as(alice, nil, "submit", "--cwd", aliceHome, "--", "sleep", "60")
	id2, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if code != 0 || err != nil {
		t.Fatalf("alice's second submit: exit %d, %q %q", code, out, errOut)
	}
	j2 := h.waitJob(id2, ledger.JobRunning)
	h.eventually(10*time.Second, "job 2's pid", func() bool { j2 = h.job(id2); return j2.PID > 0 })
	h.stopDaemon()
	_, errOut, code = as(bob, nil, "jobs")
	if code != 1 || !strings.Contains(errOut, "no daemon is listening") {
		t.Errorf("jobs with the daemon down: exit %d, %q", code, errOut)
	}
	sid2 := strconv.FormatInt(id2, 10)
	if _, errOut, code = as(bob, nil, "cancel", sid2); code != 1 || !strings.Contains(errOut, "among your processes") {
		t.Errorf("bob's cancel of alice's job with the daemon down: exit %d, %q", code, errOut)
	}
	if _, errOut, code = as(alice, nil, "cancel", sid2); code != 0 {
		t.Errorf("alice's cancel with the daemon down: exit %d, %q", code, errOut)
	}
	h.eventually(15*time.Second, "alice's job gone", func() bool { return syscall.Kill(j2.PID, 0) != nil })
	h.startDaemon("--gpus", "fake:1", "--socket-group", group, "--job-units", "off")
	if j := h.waitJob(id2, ledger.JobFailed); j.Signal != "SIGTERM" {
		t.Errorf("job %d recorded with signal %q, want SIGTERM", id2, j.Signal)
	}
}

// A user who may read the ledger but not write it, with no daemon to ask,
// still lists runs and status (read-only), as before the socket existed.
func TestReadOnlyLedgerWithTheDaemonDown(t *testing.T) {
	cred := unprivileged(t)
	if cred == nil {
		t.Skip("not root: the test's own user would own the ledger")
	}
	h := newHarness(t)
	finishedRun(t, h.root, "ro1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if out, code := h.run("backfill", h.root); code != 0 {
		t.Fatalf("backfill: exit %d\n%s", code, out)
	}
	state := filepath.Dir(h.db)
	for d := state; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(h.db, 0o644); err != nil {
		t.Fatal(err)
	}
	// SQLite's readers need its shared-memory file: the user's group may
	// create it in the ledger's dir (as on a box whose users share a group).
	if err := os.Chown(state, 0, int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o775); err != nil {
		t.Fatal(err)
	}
	out, errOut, code, _ := h.command(cred, 30*time.Second, "runs")
	if code != 0 || !strings.Contains(out, "ro1") {
		t.Errorf("runs by a reader with the daemon down: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code, _ = h.command(cred, 30*time.Second, "submit", "true"); code != 1 || !strings.Contains(errOut, "no daemon is listening") {
		t.Errorf("submit by a reader with the daemon down: exit %d, %q; want 1 saying no daemon listens", code, errOut)
	}
}
