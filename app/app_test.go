package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

const testKey = "0123456789abcdef0123456789abcdef01234567"

// shell runs runner in-process with its own environment, like a user at a shell.
type shell struct {
	t   testing.TB
	env map[string]string
	// tty: stdout is a terminal that reports no size, as a pty that
	// script(1) opens is.
	tty bool
}

func newShell(t testing.TB) *shell {
	t.Helper()
	dir := t.TempDir()
	return &shell{t: t, env: map[string]string{
		"RUNNER_DB":     filepath.Join(dir, "state", "ledger.db"),
		"HOME":          dir,
		"WANDB_API_KEY": testKey,
		"PATH":          os.Getenv("PATH"),
	}}
}

func (c *shell) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return c.env[k] },
		Environ: func() []string {
			var kv []string
			for k, v := range c.env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		Now:        time.Now,
		IsTerminal: func(w io.Writer) bool { return c.tty && w == &out },
	}
	// urfave reads flag defaults from the real environment.
	for k, v := range c.env {
		c.t.Setenv(k, v)
	}
	err := Run(context.Background(), append([]string{"runner"}, args...), env)
	if msg := ErrorLine(err); msg != "" {
		errb.WriteString("runner: " + msg + "\n")
	}
	return out.String(), errb.String(), ExitCode(err)
}

func fixture(rel string) string { return filepath.Join("..", "testdata", "fixtures", rel) }

var fixtureRuns = map[string]string{
	"g9dvvkua": "wandb__wandb/tests/assets/wandb/offline-run-20210216_154407-g9dvvkua",
	"2aftyuo2": "AMontgomerie__jigsaw-toxic-severity-competition/wandb/offline-run-20211206_121237-2aftyuo2",
	"l69sfsyk": "7vik__nn-modularity/wandb/offline-run-20250126_193314-l69sfsyk",
	"rv0d9uzo": "7vik__nn-modularity/wandb/offline-run-20250126_193212-rv0d9uzo",
	"rn7ku8ba": "AI-ModCon__BaseSIM_APEIRON/wandb/offline-run-20251124_212909-rn7ku8ba",
}

// `runner inspect --json` on every shared fixture, given its run dir, prints
// the reader's golden object.
func TestInspectJSONMatchesGoldens(t *testing.T) {
	c := newShell(t)
	for id, rel := range fixtureRuns {
		t.Run(id, func(t *testing.T) {
			out, errOut, code := c.run("inspect", fixture(rel), "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			want, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "inspect", id+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var got, exp map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("inspect --json is not JSON: %v\n%s", err, out)
			}
			if err := json.Unmarshal(want, &exp); err != nil {
				t.Fatal(err)
			}
			// The golden was made from the file path; inspect was given the dir.
			delete(got, "path")
			delete(exp, "path")
			g, _ := json.Marshal(got)
			e, _ := json.Marshal(exp)
			if !bytes.Equal(g, e) {
				t.Errorf("inspect --json differs from golden %s.json:\n got %s\nwant %s", id, g, e)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	c := newShell(t)
	notWandb := filepath.Join(t.TempDir(), "notes.wandb")
	os.WriteFile(notWandb, []byte("hello, this is not a log"), 0o644)
	v2 := filepath.Join(t.TempDir(), "v2.wandb")
	os.WriteFile(v2, []byte{':', 'W', '&', 'B', 0xe1, 0xbe, 2}, 0o644)
	tests := []struct {
		name string
		args []string
		code int
		msg  string // in stderr
	}{
		{"inspect torn run is fine", []string{"inspect", fixture(fixtureRuns["l69sfsyk"])}, 0, ""},
		{"inspect not a wandb file", []string{"inspect", notWandb}, 1, "not a .wandb file"},
		{"inspect newer format", []string{"inspect", v2}, 1, "unsupported .wandb version 2"},
		{"inspect missing path", []string{"inspect", "/nonexistent/run"}, 1, "no such file"},
		{"inspect no argument", []string{"inspect"}, 2, "missing PATH"},
		{"unknown flag", []string{"inspect", "--bogus", "x"}, 2, "bogus"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
		{"bad duration", []string{"backfill", t.TempDir(), "--settle", "soon"}, 2, "invalid duration"},
		{"bad state", []string{"runs", "--state", "done"}, 2, "invalid --state"},
		{"daemon without watch", []string{"daemon"}, 2, "--watch"},
		{"daemon watch is a file", []string{"daemon", "--watch", notWandb}, 2, "not a directory"},
		{"backfill missing tree", []string{"backfill", "/nonexistent/tree"}, 1, "/nonexistent/tree"},
		{"skip unknown run", []string{"skip", "nosuchrun"}, 1, "nosuchrun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := c.run(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if tt.msg != "" && !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr %q does not mention %q", errOut, tt.msg)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n"); code != 0 && n > 0 {
				t.Errorf("error is not one line: %q", errOut)
			}
		})
	}
}

// newUploadShell is a shell with a copy of the fixture tree and the fake
// wandb CLI as RUNNER_WANDB.
func newUploadShell(t *testing.T) (*shell, string) {
	t.Helper()
	c := newShell(t)
	c.env["RUNNER_WANDB"] = testbin.Build(t, "./testdata/fakewandb", "wandb")
	return c, copyTree(t)
}

// copyTree copies the fixture runs into a fresh tree, with old mtimes as a
// run dir copied in from another machine has.
func copyTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("..", "testdata", "fixtures")
	old := time.Now().Add(-48 * time.Hour)
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case info.IsDir():
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		return os.Chtimes(dst, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func runsJSONOut(t *testing.T, c *shell, args ...string) []RunJSON {
	t.Helper()
	out, errOut, code := c.run(append([]string{"runs", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("runs --json exit %d: %s", code, errOut)
	}
	var rs []RunJSON
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	return rs
}

// A backfill records every fixture once (latest-run symlinks are not counted
// twice), is idempotent, and with --upload sends each run through the wandb
// CLI exactly once; killed runs go up from a repaired copy.
func TestBackfillRecordsAndUploadsFixtures(t *testing.T) {
	c, root := newUploadShell(t)
	upLog := filepath.Join(t.TempDir(), "uploads.jsonl")
	c.env["FAKE_WANDB_LOG"] = upLog

	out, errOut, code := c.run("backfill", root, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("dry run exit %d: %s", code, errOut)
	}
	var rep runsync.BackfillReport
	json.Unmarshal([]byte(out), &rep)
	if rep.Found != 5 || rep.New != 5 || !rep.DryRun {
		t.Fatalf("dry run report %+v, want 5 found, 5 new", rep)
	}
	if rs := runsJSONOut(t, c); len(rs) != 0 {
		t.Fatalf("dry run recorded %d runs", len(rs))
	}

	out, errOut, code = c.run("backfill", root, "--upload", "--json")
	if code != 0 {
		t.Fatalf("backfill --upload exit %d: %s\n%s", code, errOut, out)
	}
	json.Unmarshal([]byte(out), &rep)
	// 2aftyuo2 was killed right after start (header, run, files): uploaded too, as crashed.
	if rep.Found != 5 || rep.New != 5 || rep.Uploaded != 5 || rep.UploadFailed != 0 {
		t.Errorf("backfill report %+v, want 5 new and 5 uploaded", rep)
	}
	rs := runsJSONOut(t, c)
	byID := map[string]RunJSON{}
	for _, r := range rs {
		byID[deref(r.RunID)] = r
		if r.State != "synced" || r.URL == nil || r.Attempts != 1 {
			t.Errorf("run %s: state %s url %v attempts %d, want synced with a URL after 1 attempt", deref(r.RunID), r.State, r.URL, r.Attempts)
		}
	}
	// Killed runs (torn, or just no exit record) go up from a repaired copy.
	for _, id := range []string{"l69sfsyk", "rv0d9uzo", "2aftyuo2"} {
		if s := byID[id].Source; s == nil || *s != ledger.SourceRepaired {
			t.Errorf("killed run %s source %v, want repaired", id, s)
		}
	}
	if r := byID["rn7ku8ba"]; r.ExitCode == nil || *r.ExitCode != 1 || !r.Finished {
		t.Errorf("rn7ku8ba: finished %v exit %v, want finished with exit code 1", r.Finished, r.ExitCode)
	}

	// Again: nothing new, nothing uploaded twice.
	out, _, code = c.run("backfill", root, "--upload", "--json")
	json.Unmarshal([]byte(out), &rep)
	if code != 0 || rep.Unchanged != 5 || rep.Uploaded != 0 {
		t.Errorf("second backfill: exit %d, report %+v; want 5 unchanged, 0 uploaded", code, rep)
	}
	b, _ := os.ReadFile(upLog)
	if n := strings.Count(string(b), "\n"); n != 5 {
		t.Errorf("fake wandb saw %d uploads, want 5:\n%s", n, b)
	}
}

// Flags work after positional arguments; failed uploads are retried with
// `sync --retry`; the API key never shows in any output or in the ledger.
func TestSyncRetryAndSkip(t *testing.T) {
	c, root := newUploadShell(t)
	c.env["FAKE_WANDB_MODE"] = "crash"
	c.env["RUNNER_MAX_ATTEMPTS"] = "1"

	out, _, code := c.run("backfill", root, "--upload")
	if code != 1 {
		t.Fatalf("backfill with a crashing CLI: exit %d, want 1\n%s", code, out)
	}
	failed := runsJSONOut(t, c, "--state", "failed")
	if len(failed) != 5 {
		t.Fatalf("%d failed runs, want 5", len(failed))
	}
	if failed[0].LastError == nil || *failed[0].LastError == "" {
		t.Errorf("last_error %v does not say what went wrong", failed[0].LastError)
	}

	// Flags after the argument.
	out, errOut, code := c.run("skip", "rv0d9uzo", "--reason", "junk run")
	if code != 0 || !strings.Contains(out, "skipped 1") {
		t.Fatalf("skip: exit %d %q %q", code, out, errOut)
	}
	c.env["FAKE_WANDB_MODE"] = "ok"
	out, errOut, code = c.run("sync", "--retry")
	if code != 0 {
		t.Fatalf("sync --retry exit %d:\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "synced "); n != 4 {
		t.Errorf("sync --retry synced %d runs, want 4:\n%s", n, out)
	}
	skipped := runsJSONOut(t, c, "--state", "skipped")
	if len(skipped) != 1 || *skipped[0].Reason != "junk run" {
		t.Errorf("skipped runs %+v, want rv0d9uzo with its reason", skipped)
	}
	db, _ := os.ReadFile(c.env["RUNNER_DB"])
	wal, _ := os.ReadFile(c.env["RUNNER_DB"] + "-wal")
	if bytes.Contains(db, []byte(testKey)) || bytes.Contains(wal, []byte(testKey)) {
		t.Error("the API key was written into the ledger")
	}
	if st, err := os.Stat(c.env["RUNNER_DB"]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode %v, want 0600", st.Mode().Perm())
	}
}

// An auth failure pauses every upload, `status` says so and exits 1, and
// `runner sync` (after fixing the key) resumes.
func TestAuthFailurePausesUploads(t *testing.T) {
	c, root := newUploadShell(t)
	c.env["FAKE_WANDB_MODE"] = "auth"
	out, _, code := c.run("backfill", root, "--upload")
	if code != 1 {
		t.Fatalf("backfill with a rejected key: exit %d, want 1\n%s", code, out)
	}
	out, _, code = c.run("status", "--json")
	var st status.Status
	json.Unmarshal([]byte(out), &st)
	if code != 1 || !st.Uploads.Paused || st.Uploads.Reason == nil || !strings.Contains(*st.Uploads.Reason, "not logged in") {
		t.Fatalf("status exit %d, uploads %+v; want exit 1, paused because not logged in", code, st.Uploads)
	}
	if strings.Contains(out, testKey) {
		t.Error("status shows the API key")
	}
	// Only one run was tried before the pause; none counted an attempt.
	for _, r := range runsJSONOut(t, c) {
		if r.Attempts != 0 || r.State == "failed" {
			t.Errorf("run %s: attempts %d state %s; an auth failure must not use up attempts", deref(r.RunID), r.Attempts, r.State)
		}
	}
	c.env["FAKE_WANDB_MODE"] = "ok"
	out, errOut, code := c.run("sync")
	if code != 0 || !strings.Contains(out, "resuming") {
		t.Fatalf("sync after fixing the key: exit %d\n%s%s", code, out, errOut)
	}
	if rs := runsJSONOut(t, c, "--state", "synced"); len(rs) != 5 {
		t.Errorf("%d runs synced after resuming, want 5", len(rs))
	}
}

// An uploader that crashed mid-upload leaves a lease; once it expires, the
// next backfill from cron takes the run over and uploads it.
func TestBackfillTakesOverExpiredLease(t *testing.T) {
	c, root := newUploadShell(t)
	if _, _, code := c.run("backfill", root); code != 0 {
		t.Fatal("backfill failed")
	}
	ctx := context.Background()
	db, err := ledger.Open(ctx, c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	crashed, err := db.Claim(ctx, "crashed-daemon", time.Millisecond, nil)
	db.Close()
	if err != nil || len(crashed) == 0 {
		t.Fatalf("claim: %v, %d runs", err, len(crashed))
	}
	time.Sleep(5 * time.Millisecond)
	out, errOut, code := c.run("backfill", root, "--upload")
	if code != 0 {
		t.Fatalf("backfill --upload exit %d:\n%s%s", code, out, errOut)
	}
	for _, r := range runsJSONOut(t, c) {
		if r.Dir == crashed[0].Dir && r.State != "synced" {
			t.Errorf("run leased by the crashed uploader is %s, want synced", r.State)
		}
	}
}

// `runner gpus` names the job holding each GPU as the ledger says now, even
// when the daemon's last device sample is older than the job's start.
func TestGPUsHolderIsCurrent(t *testing.T) {
	c := newShell(t)
	ctx := context.Background()
	db, err := ledger.Open(ctx, c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap := jobs.NewSnapshot(jobs.NewFake(2, 80<<30), []jobs.Device{
		{Index: 0, UUID: "GPU-a", Name: "A", MemTotal: 80 << 30}, {Index: 1, UUID: "GPU-b", Name: "B", MemTotal: 80 << 30},
	}, nil)
	raw, _ := json.Marshal(snap)
	if err := db.SetGPUSnapshot(ctx, string(raw)); err != nil {
		t.Fatal(err)
	}
	j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, GPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.StartJob(ctx, j.ID, ledger.JobStart{GPUUUIDs: []string{"GPU-b"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, errOut, code := c.run("gpus", "--json")
	if code != 0 {
		t.Fatalf("gpus exit %d: %s", code, errOut)
	}
	var gpus []jobs.GPUStatus
	if err := json.Unmarshal([]byte(out), &gpus); err != nil {
		t.Fatalf("gpus --json: %v\n%s", err, out)
	}
	if len(gpus) != 2 || gpus[0].HeldBy != nil || gpus[1].HeldBy == nil || *gpus[1].HeldBy != j.ID {
		t.Errorf("holders %s, want GPU-b held by job %d and GPU-a free", out, j.ID)
	}
}

// With a legacy wandb CLI (0.17-0.28.0), which marks a run synced only after
// an exit record, killed runs still go up: their repaired copy ends with one.
func TestBackfillUploadsKilledRunsWithLegacyCLI(t *testing.T) {
	c, root := newUploadShell(t)
	c.env["FAKE_WANDB_STYLE"] = "legacy"
	out, errOut, code := c.run("backfill", root, "--upload")
	if code != 0 {
		t.Fatalf("backfill --upload with a legacy CLI: exit %d\n%s%s", code, out, errOut)
	}
	if rs := runsJSONOut(t, c, "--state", "synced"); len(rs) != 5 {
		t.Errorf("%d of 5 runs synced with a legacy CLI", len(rs))
	}
}

// A second daemon on the same ledger refuses to start while the first is
// alive: both would place jobs on the same GPUs.
func TestSecondDaemonRefuses(t *testing.T) {
	c := newShell(t)
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	ctx := context.Background()
	db, err := ledger.Open(ctx, c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if err := db.Heartbeat(ctx, ledger.Daemon{PID: other.Process.Pid, Host: host, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, errOut, code := c.run("daemon", "--watch", t.TempDir(), "--gpus", "none")
	if code != 1 || !strings.Contains(errOut, "another runner daemon") {
		t.Errorf("second daemon: exit %d, stderr %q; want 1 and a clear message", code, errOut)
	}
}

// Credentials given with --env would be readable by anyone who can read the
// ledger: they are refused (the job inherits them from the daemon instead).
func TestSubmitRefusesSecretsInEnv(t *testing.T) {
	c := newShell(t)
	for _, kv := range []string{"WANDB_API_KEY=x", "HF_TOKEN=x", "AWS_SECRET_ACCESS_KEY=x", "DB_PASSWORD=x"} {
		_, errOut, code := c.run("submit", "--env", kv, "--", "true")
		if code != 2 || !strings.Contains(errOut, strings.Split(kv, "=")[0]) {
			t.Errorf("submit --env %s: exit %d %q, want 2 naming the variable", kv, code, errOut)
		}
	}
	if _, errOut, code := c.run("submit", "--env", "LR=0.001", "--", "true"); code != 0 {
		t.Errorf("submit --env LR=0.001: exit %d %q, want 0", code, errOut)
	}
}
