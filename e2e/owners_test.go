package e2e

import (
	"bufio"
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
)

// The attacks of docs/design.md "Threat model", replayed by two unprivileged
// users against a root runner: each test fails on a runner that acts in a
// user's tree as root or believes a file because of its name.

// sharedBox is a root runner whose watched tree holds the trees of two
// users, alice and bob, created for the test.
type sharedBox struct {
	*harness
	alice, bob *syscall.Credential
	aliceTree  string // <root>/alice, alice's, 0755
	bobHome    string // bob's home, outside the watched tree
	who, reads string // the fake CLI's FAKE_WANDB_WHO and FAKE_WANDB_READS
	private    string // a root-only dir (0700) neither user can enter
}

func newSharedBox(t *testing.T, env ...string) *sharedBox {
	t.Helper()
	group, pub, why := testGroup(t, "rs")
	if why != "" {
		t.Skipf("needs root and local users to be created (%s)", why)
	}
	b := &sharedBox{private: t.TempDir()}
	b.alice = localUser(t, group+"a", group, filepath.Join(pub, "alice"))
	b.bob = localUser(t, group+"b", group, filepath.Join(pub, "bob"))
	b.bobHome = filepath.Join(pub, "bob")
	// The fake CLI runs as either user: its logs live where both can write.
	logs := filepath.Join(pub, "logs")
	if err := os.Mkdir(logs, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(logs, 0o777); err != nil {
		t.Fatal(err)
	}
	b.who, b.reads = filepath.Join(logs, "who.jsonl"), filepath.Join(logs, "reads.jsonl")
	b.harness = newHarness(t, append([]string{"FAKE_WANDB_LOG=" + filepath.Join(logs, "uploads.jsonl"),
		"FAKE_WANDB_STATE=" + filepath.Join(logs, "state"), "FAKE_WANDB_WHO=" + b.who, "FAKE_WANDB_READS=" + b.reads}, env...)...)
	b.upLog = filepath.Join(logs, "uploads.jsonl")
	for d := b.root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.aliceTree = filepath.Join(b.root, "alice")
	if err := os.Mkdir(b.aliceTree, 0o755); err != nil {
		t.Fatal(err)
	}
	chownTree(t, b.aliceTree, b.alice)
	return b
}

// run of user cred: a finished run dir under parent, theirs.
func (b *sharedBox) finished(cred *syscall.Credential, parent, id string) (dir, log string) {
	b.t.Helper()
	dir = finishedRun(b.t, parent, id, time.Now().Add(-2*time.Hour))
	age(b.t, dir, time.Hour)
	chownTree(b.t, filepath.Dir(parent), cred)
	return dir, filepath.Join(dir, "run-"+id+".wandb")
}

// killed is a run whose process died: no exit record, uploaded from a
// repaired copy, after which runner writes the marker itself.
func (b *sharedBox) killed(cred *syscall.Credential, parent, id string) (dir, log string) {
	b.t.Helper()
	r := newRun(b.t, parent, id, time.Now().Add(-2*time.Hour))
	r.rows(0, 5)
	r.close()
	age(b.t, r.dir, time.Hour)
	chownTree(b.t, filepath.Dir(parent), cred)
	return r.dir, filepath.Join(r.dir, "run-"+id+".wandb")
}

// as runs argv as cred and fails the test if it does not work.
func as(t *testing.T, cred *syscall.Credential, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v as uid %d: %v: %s", argv, cred.Uid, err, out)
	}
}

type whoLine struct {
	PID  int `json:"pid"`
	UID  int `json:"uid"`
	EUID int `json:"euid"`
	GID  int `json:"gid"`
	EGID int `json:"egid"`
}

func (b *sharedBox) calls() []whoLine {
	var out []whoLine
	readLines(b.t, b.who, func(line []byte) {
		var w whoLine
		if err := json.Unmarshal(line, &w); err != nil {
			b.t.Fatalf("bad who line %q: %v", line, err)
		}
		out = append(out, w)
	})
	return out
}

type readLine struct {
	Path string `json:"path"`
	OK   bool   `json:"ok"`
	EUID int    `json:"euid"`
}

func (b *sharedBox) readsOf() []readLine {
	var out []readLine
	readLines(b.t, b.reads, func(line []byte) {
		var r readLine
		if err := json.Unmarshal(line, &r); err != nil {
			b.t.Fatalf("bad reads line %q: %v", line, err)
		}
		out = append(out, r)
	})
	return out
}

func readLines(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fn(sc.Bytes())
	}
}

func (b *sharedBox) run(id string) ledger.Run {
	b.t.Helper()
	for _, r := range b.runs() {
		if r.RunID == id {
			return r
		}
	}
	b.t.Fatalf("run %s not in the ledger", id)
	return ledger.Run{}
}

func (b *sharedBox) backfill(args ...string) (string, int) {
	b.t.Helper()
	return b.harness.run(append([]string{"backfill"}, append(args, b.root)...)...)
}

func owned(t *testing.T, path string) (uid int, ok bool) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		return -1, false
	}
	return int(st.Sys().(*syscall.Stat_t).Uid), true
}

// A symlink marker planted while the upload runs points at a root-only
// path: runner, marking the repaired run synced, must not create it.
func TestPlantedMarkerSymlinkCreatesNothingAsRoot(t *testing.T) {
	b := newSharedBox(t, "FAKE_WANDB_DELAY=1500ms")
	_, log := b.killed(b.alice, filepath.Join(b.aliceTree, "wandb"), "plant001")
	target := filepath.Join(b.private, "nologin")
	if err := os.Chmod(b.private, 0o755); err != nil { // alice may look, not write
		t.Fatal(err)
	}

	cmd := exec.Command(b.runner, "backfill", "--upload", b.root)
	cmd.Env = b.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.eventually(30*time.Second, "the upload call to start", func() bool { return len(b.calls()) > 0 })
	as(t, b.alice, "ln", "-s", target, log+".synced")
	if err := cmd.Wait(); err != nil {
		t.Logf("backfill: %v\n%s", err, out.String())
	}
	if uid, ok := owned(t, target); ok {
		t.Errorf("%s was created (owner uid %d) through alice's symlink marker", target, uid)
	}
	if c := b.uploadCounts()["plant001"]; c != 1 {
		t.Errorf("plant001 uploaded %d times, want 1", c)
	}
}

// A dangling symlink marker planted before the run is ready proves
// nothing: the run is uploaded, and the event names the bad marker.
func TestDanglingMarkerSymlinkIsNotAMarker(t *testing.T) {
	b := newSharedBox(t)
	_, log := b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "dang0001")
	as(t, b.alice, "ln", "-s", "/nonexistent/runner-test", log+".synced")

	_, stderr, _, _ := b.command(nil, time.Minute, "backfill", "--upload", b.root)
	if !strings.Contains(stderr, "ignored .synced marker") || !strings.Contains(stderr, log+".synced: not a marker: it is a symlink") {
		t.Errorf("the log does not name the bad marker:\n%s", stderr)
	}
	if c := b.uploadCounts()["dang0001"]; c != 1 {
		t.Errorf("dang0001 uploaded %d times, want 1 (a dangling symlink is no marker)", c)
	}
	r := b.run("dang0001")
	if r.State != ledger.StateSynced || r.URL == "" {
		t.Errorf("dang0001 is %s with URL %q, want synced with the URL of its upload", r.State, r.URL)
	}
	if st, err := os.Lstat(log + ".synced"); err != nil || !st.Mode().IsRegular() {
		t.Errorf("marker after the upload: %v, %v; want the CLI's regular file", st, err)
	}

}

// A marker that appears during the call (a hand-run sync, or planted)
// makes the CLI print "Skipped 1 synced run(s)": that is not an upload.
func TestMarkerAppearingMidCallIsNotAnUpload(t *testing.T) {
	b := newSharedBox(t, "FAKE_WANDB_PLANT_MARKER=1")
	b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "skip0001")

	b.backfill("--upload")
	if c := b.uploadCounts()["skip0001"]; c != 1 {
		t.Errorf("skip0001 uploaded %d times, want 1", c)
	}
	if r := b.run("skip0001"); r.State != ledger.StateSynced || r.URL == "" {
		t.Errorf("skip0001 is %s with URL %q: want synced with the URL the CLI printed for it", r.State, r.URL)
	}
}

// A run dir recorded in alice's tree, then swapped for a symlink into
// bob's: runner never follows it (no upload of bob's run, nothing written
// in bob's tree) and says why.
func TestSymlinkedRunDirIntoAnotherUsersTree(t *testing.T) {
	b := newSharedBox(t)
	aliceWandb := filepath.Join(b.aliceTree, "wandb")
	dir, _ := b.finished(b.alice, aliceWandb, "swap0001")
	b.backfill() // recorded, pending
	if r := b.run("swap0001"); r.State != ledger.StatePending {
		t.Fatalf("swap0001 is %s after backfill, want pending", r.State)
	}
	// Bob's run of the same dir name, in bob's home.
	bobWandb := filepath.Join(b.bobHome, "wandb")
	if err := os.MkdirAll(bobWandb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(bobWandb, filepath.Base(dir))); err != nil {
		t.Fatal(err)
	}
	chownTree(t, bobWandb, b.bob)
	as(t, b.alice, "rmdir", aliceWandb)
	as(t, b.alice, "ln", "-s", bobWandb, aliceWandb)

	b.harness.run("sync")
	if c := b.uploadCounts()["swap0001"]; c != 0 {
		t.Errorf("bob's run uploaded %d times through alice's symlink, want 0", c)
	}
	marker := filepath.Join(bobWandb, filepath.Base(dir), "run-swap0001.wandb.synced")
	if _, err := os.Lstat(marker); err == nil {
		t.Errorf("%s written in bob's tree", marker)
	}
	r := b.run("swap0001")
	if r.State == ledger.StateSynced || !strings.Contains(r.LastError+r.Reason, "symlink") {
		t.Errorf("swap0001 is %s (%q / %q): want not synced, with a reason that names the symlink", r.State, r.Reason, r.LastError)
	}
}

// A hard link to a root-owned file, named like a marker, is not a marker:
// the run is uploaded and the root file is never written.
func TestHardLinkNamedLikeMarker(t *testing.T) {
	b := newSharedBox(t)
	_, log := b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "hard0001")
	precious := filepath.Join(b.private, "precious")
	if err := os.WriteFile(precious, []byte("root's data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Made by root here: fs.protected_hardlinks stops alice, but not on
	// every box, and not for a file she may write.
	if err := os.Link(precious, log+".synced"); err != nil {
		t.Fatal(err)
	}

	b.backfill("--upload")
	if got, _ := os.ReadFile(precious); string(got) != "root's data\n" {
		t.Errorf("root's file now holds %q", got)
	}
	if c := b.uploadCounts()["hard0001"]; c != 1 {
		t.Errorf("hard0001 uploaded %d times, want 1 (a hard link is no marker)", c)
	}
	if r := b.run("hard0001"); r.State != ledger.StateSynced {
		t.Errorf("hard0001 is %s, want synced", r.State)
	}
}

// A run dir given to bob between discovery and upload is uploaded as bob,
// its new owner, and its marker is bob's.
func TestOwnerChangesBetweenDiscoveryAndUpload(t *testing.T) {
	b := newSharedBox(t)
	_, log := b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "move0001")
	b.backfill()
	chownTree(t, b.aliceTree, b.bob)

	b.harness.run("sync")
	calls := b.calls()
	if len(calls) != 1 || calls[0].EUID != int(b.bob.Uid) || calls[0].UID != int(b.bob.Uid) {
		t.Errorf("wandb sync ran as %+v, want one call as bob (uid %d)", calls, b.bob.Uid)
	}
	if uid, ok := owned(t, log+".synced"); !ok || uid != int(b.bob.Uid) {
		t.Errorf("marker owner uid %d (exists %v), want bob's %d", uid, ok, b.bob.Uid)
	}
	if r := b.run("move0001"); r.State != ledger.StateSynced {
		t.Errorf("move0001 is %s, want synced", r.State)
	}
}

// A log or a file of the run that is a symlink to /etc/shadow is never
// read as root and never uploaded.
func TestLogSymlinkToShadowIsNeverRead(t *testing.T) {
	b := newSharedBox(t)
	secret := "/etc/shadow"
	if _, err := os.Stat(secret); err != nil {
		secret = filepath.Join(b.private, "shadow") // a stand-in, as private
		if err := os.WriteFile(secret, []byte("root:$6$secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wandb := filepath.Join(b.aliceTree, "wandb")
	dir, _ := b.finished(b.alice, wandb, "shdw0001")
	files := filepath.Join(dir, "files")
	as(t, b.alice, "mkdir", "-p", files)
	as(t, b.alice, "ln", "-s", secret, filepath.Join(files, "output.log"))
	// A run whose only log is the link.
	only := filepath.Join(wandb, "offline-run-20250101_000000-shdw0002")
	as(t, b.alice, "mkdir", only)
	as(t, b.alice, "ln", "-s", secret, filepath.Join(only, "run-shdw0002.wandb"))

	b.backfill("--upload")
	for _, r := range b.readsOf() {
		if r.OK && (strings.HasSuffix(r.Path, "output.log") || strings.HasSuffix(r.Path, "run-shdw0002.wandb")) {
			t.Errorf("the CLI read %s (as uid %d): a link to %s", r.Path, r.EUID, secret)
		}
	}
	if c := b.uploadCounts()["shdw0002"]; c != 0 {
		t.Errorf("shdw0002 uploaded %d times, want 0", c)
	}
	if c := b.uploadCounts()["shdw0001"]; c != 1 {
		t.Errorf("shdw0001 uploaded %d times, want 1 (its own log is fine)", c)
	}
}

// The CLI runs as the dir's owner, yet the owner cannot read its
// environment (the API key) through /proc.
func TestOwnerCannotReadTheUploadersKey(t *testing.T) {
	b := newSharedBox(t, "FAKE_WANDB_DELAY=2s")
	b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "envr0001")
	cmd := exec.Command(b.runner, "backfill", "--upload", b.root)
	cmd.Env = b.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	b.eventually(30*time.Second, "the upload call to start", func() bool { return len(b.calls()) > 0 })
	c := b.calls()[0]
	if c.EUID != int(b.alice.Uid) {
		t.Fatalf("wandb sync runs as uid %d, want alice's %d", c.EUID, b.alice.Uid)
	}
	read := exec.Command("cat", filepath.Join("/proc", strconv.Itoa(c.PID), "environ"))
	read.SysProcAttr = &syscall.SysProcAttr{Credential: b.alice}
	out, err := read.CombinedOutput()
	if err == nil || strings.Contains(string(out), apiKey) {
		t.Errorf("alice read the CLI's environment (err %v; key in it: %v)", err, strings.Contains(string(out), apiKey))
	}
}

// Without CAP_SETUID (the hardened unit) another user's run is not
// uploaded as runner's user unless --allow-foreign-owners says so.
func TestForeignOwnersNeedTheFlagWithoutSetuid(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv to drop CAP_SETUID")
	}
	b := newSharedBox(t)
	b.finished(b.alice, filepath.Join(b.aliceTree, "wandb"), "frgn0001")
	drop := []string{"--bounding-set", "-setuid,-setgid", "--inh-caps", "-setuid,-setgid", "--"}
	run := func(args ...string) {
		t.Helper()
		argv := append(append([]string{}, drop...), append([]string{b.runner}, args...)...)
		cmd := exec.Command(setpriv, argv...)
		cmd.Env = b.env
		out, _ := cmd.CombinedOutput()
		t.Logf("runner %v:\n%s", args, out)
	}
	run("backfill", "--upload", b.root)
	r := b.run("frgn0001")
	if r.State != ledger.StateFailed || !strings.Contains(r.Reason+r.LastError, "--allow-foreign-owners") {
		t.Errorf("frgn0001 is %s (%q / %q): want failed, naming --allow-foreign-owners", r.State, r.Reason, r.LastError)
	}
	if c := b.uploadCounts()["frgn0001"]; c != 0 {
		t.Errorf("frgn0001 uploaded %d times without the flag, want 0", c)
	}
	run("sync", "--retry", "--allow-foreign-owners", "frgn0001")
	if c := b.uploadCounts()["frgn0001"]; c != 1 {
		t.Errorf("frgn0001 uploaded %d times with --allow-foreign-owners, want 1", c)
	}
}
