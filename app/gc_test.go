package app

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnerhq/runner/gc"
	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// gcClock is a settable ledger clock.
type gcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *gcClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *gcClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type gcFixture struct {
	db                             string
	old, recent, pending, noMarker string // run dirs
	jobLog                         string
	oldBytes                       int64
}

// newGCFixture makes a ledger and run dirs on disk: a run synced 60 days ago
// (to be deleted), one synced yesterday, one pending for 60 days, one the
// ledger calls synced but with no .synced marker on disk, and the log of a
// job that ended 60 days ago.
func newGCFixture(t *testing.T) gcFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := gcFixture{db: filepath.Join(dir, "ledger.db")}
	clock := &gcClock{}
	db, err := ledger.Open(ctx, f.db, ledger.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() // before the test runs gc on it
	now := time.Now()
	longAgo, yesterday := now.Add(-60*24*time.Hour), now.Add(-24*time.Hour)
	mkRun := func(id string, mtime time.Time, marker bool, payload int) ledger.Observation {
		rd := filepath.Join(dir, "workspace", "wandb", "offline-run-20250101_120000-"+id)
		if err := os.MkdirAll(filepath.Join(rd, "files"), 0o755); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(rd, "run-"+id+".wandb")
		os.WriteFile(log, make([]byte, 1000), 0o644)
		os.WriteFile(filepath.Join(rd, "files", "model.ckpt"), make([]byte, payload), 0o644)
		if marker {
			os.WriteFile(log+".synced", nil, 0o644)
		}
		os.Chtimes(log, mtime, mtime)
		return ledger.Observation{Dir: rd, LogPath: log, Size: 1000, MTime: mtime, MarkerExists: marker,
			Meta: &ledger.Meta{RunID: id, Project: "p", Finished: true}}
	}
	clock.Set(longAgo)
	old := mkRun("old1", longAgo, true, 3<<20)
	pending := mkRun("pend1", longAgo, false, 10)
	noMarker := mkRun("nomark1", longAgo, false, 10)
	if _, err := db.UpsertRuns(ctx, []ledger.Observation{old, pending, noMarker}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{pending.Dir, noMarker.Dir} {
		if err := db.MarkReady(ctx, d, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Synced by an upload whose marker was later lost.
	if _, err := db.Claim(ctx, "t", time.Hour, []string{noMarker.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := db.Complete(ctx, "t", []string{noMarker.Dir}, ledger.Result{Outcome: ledger.OutcomeSuccess,
		Source: ledger.SourceUpload, StartedAt: longAgo, CountAttempt: true}); err != nil {
		t.Fatal(err)
	}
	f.jobLog = filepath.Join(dir, "jobs", "1.log")
	os.MkdirAll(filepath.Dir(f.jobLog), 0o700)
	os.WriteFile(f.jobLog, []byte("epoch 1\n"), 0o600)
	j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.StartJob(ctx, j.ID, ledger.JobStart{LogPath: f.jobLog}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if _, _, err := db.EndJob(ctx, j.ID, ledger.JobEnd{ExitCode: &zero}); err != nil {
		t.Fatal(err)
	}
	clock.Set(yesterday)
	recent := mkRun("recent1", yesterday, true, 10)
	if _, err := db.UpsertRuns(ctx, []ledger.Observation{recent}); err != nil {
		t.Fatal(err)
	}
	f.old, f.recent, f.pending, f.noMarker = old.Dir, recent.Dir, pending.Dir, noMarker.Dir
	f.oldBytes = 1000 + 3<<20
	return f
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// runner gc deletes only the dirs of runs synced longer ago than the limit,
// says what it freed in human units, records it, and leaves every other run
// dir alone; --dry-run deletes nothing.
func TestGCDeletesOnlyOldSyncedRuns(t *testing.T) {
	f := newGCFixture(t)
	ctx := context.Background()

	out, stderr, code := opsRun(ctx, "--db", f.db, "gc", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("gc --dry-run: exit %d: %s", code, stderr)
	}
	var rep gc.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("gc --json is not JSON: %v\n%s", err, out)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Dir != f.old || rep.Runs[0].Bytes != f.oldBytes || len(rep.JobLogs) != 1 || rep.Ledger != nil {
		t.Errorf("dry-run report %+v, want the old run (%d bytes) and one job log, no vacuum", rep, f.oldBytes)
	}
	if !exists(f.old) || !exists(f.jobLog) {
		t.Fatal("gc --dry-run deleted files")
	}

	out, stderr, code = opsRun(ctx, "--db", f.db, "gc", "--older-than", "30d")
	if code != 0 {
		t.Fatalf("gc: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"deleted 1 synced run dir older than 30d: 3.0 MiB", f.old, "pruned 1 job log: 8 B",
		"kept " + f.noMarker + ": no .synced marker", "after vacuum", "freed 3.0 MiB in all"} {
		if !strings.Contains(out, want) {
			t.Errorf("gc output lacks %q:\n%s", want, out)
		}
	}
	if exists(f.old) || exists(f.jobLog) {
		t.Error("gc left the old synced run dir or the old job log")
	}
	for _, d := range []string{f.recent, f.pending, f.noMarker} {
		if !exists(filepath.Join(d, "files", "model.ckpt")) {
			t.Errorf("gc touched %s", d)
		}
	}

	db := ledgertest.Open(t, f.db, ledger.Options{ReadOnly: true})
	r, err := db.GetRun(ctx, f.old)
	if err != nil || r.State != ledger.StateSynced {
		t.Errorf("deleted run: %+v %v, want it still synced", r.State, err)
	}
	if at, err := db.DeletedAt(ctx, f.old); err != nil || at == nil {
		t.Errorf("deleted run has no deleted_at (%v)", err)
	}
	evs, err := db.Events(ctx, []string{"gc"}, 0)
	if err != nil || len(evs) != 2 {
		t.Errorf("gc events %+v (%v), want one for the run dir and one for the job log", evs, err)
	}

	// A second pass finds nothing more to free.
	out, _, code = opsRun(ctx, "--db", f.db, "gc")
	if code != 0 || !strings.Contains(out, "freed 0 B in all") {
		t.Errorf("second gc (exit %d):\n%s", code, out)
	}
}

// Completion asks the binary (urfave reads os.Args for it, so this runs the
// real executable); a request never runs the command, even when "--" is
// among the words typed.
func TestShellCompletion(t *testing.T) {
	runner := testbin.Build(t, ".", "runner")
	db := filepath.Join(t.TempDir(), "never.db")
	complete := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(runner, append(append([]string{"--db", db}, args...), "--generate-bash-completion")...)
		cmd.Env = append(os.Environ(), "RUNNER_DB=")
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("runner %q --generate-bash-completion: %v", args, err)
		}
		return string(out)
	}
	if out := complete(); !strings.Contains(out, "\ngc\n") || !strings.Contains(out, "\nversion\n") {
		t.Errorf("command completion lacks gc and version:\n%s", out)
	}
	if out := complete("gc", "--"); !strings.Contains(out, "--older-than") || strings.Contains(out, "freed") {
		t.Errorf("`runner gc --<TAB>` printed %q, want gc's flags", out)
	}
	if out := complete("skip", "--", "abc"); out != "" {
		t.Errorf("completion after -- printed %q, want nothing", out)
	}
	if exists(db) {
		t.Error("a completion request opened the ledger: it ran the command")
	}

	// The bash script, sourced as bash-completion does, with runner on PATH.
	script, err := filepath.Abs(filepath.Join("..", "deploy", "completion", "runner.bash"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words string
		cword int
		want  string
	}{
		{"runner backf", 1, "backfill"},
		{"runner gc --older", 2, "--older-than"},
		{"runner --db x ver", 3, "version"},
	} {
		cmd := exec.Command("bash", "-c", `source "$1"; COMP_WORDS=($2); COMP_CWORD=$3; _runner_complete; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", script, tc.words, strconv.Itoa(tc.cword))
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(runner)+":"+os.Getenv("PATH"))
		cmd.Dir = t.TempDir()
		b, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(b)) != tc.want {
			t.Errorf("bash completion of %q: %q (%v), want %q", tc.words, b, err, tc.want)
		}
	}
}
