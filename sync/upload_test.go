package sync

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/internal/wandbout"
	"github.com/runnerhq/runner/ledger"
)

const (
	testKey   = "0123456789abcdef0123456789abcdef01234567"
	fixtures  = "../testdata/fixtures"
	doneRun   = "wandb__wandb/tests/assets/wandb/offline-run-20210216_154407-g9dvvkua" // exit+footer
	tornRun   = "7vik__nn-modularity/wandb/offline-run-20250126_193314-l69sfsyk"       // torn tail
	doneLog   = "run-g9dvvkua.wandb"
	tornLog   = "run-l69sfsyk.wandb"
	doneRunID = "g9dvvkua"
)

// copyRun copies a fixture run dir (regular files only) into a fresh temp dir.
func copyRun(t *testing.T, rel string) string {
	t.Helper()
	src := filepath.Join(fixtures, rel)
	dst := filepath.Join(t.TempDir(), "wandb", filepath.Base(rel))
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, r)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", rel, err)
	}
	return dst
}

// fakeEnv is a minimal child environment: the fake needs no PATH, but HOME keeps it honest.
func fakeEnv(t *testing.T, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, extra...)
}

type fakeLogEntry struct {
	RunID      string `json:"run_id"`
	Project    string `json:"project"`
	Records    int    `json:"records"`
	Finished   bool   `json:"finished"`
	Torn       bool   `json:"torn"`
	Mode       string `json:"mode"`
	KeyOK      bool   `json:"key_ok"`
	WandbMode  string `json:"wandb_mode"`
	ArgvHasKey bool   `json:"argv_has_key"`
}

func readFakeLog(t *testing.T, path string) []fakeLogEntry {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fakeLogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e fakeLogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("fake log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestUploadWithFakeCLI(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	tests := []struct {
		name        string
		run         string // fixture; "" = an empty .wandb file
		env         []string
		noKey       bool
		apiKey      string // via Uploader.APIKey instead of the environment
		premark     bool
		entity      string
		project     string
		wantOutcome string
		wantPause   bool
		wantURL     string
		wantMarker  bool
		wantUploads int
		wantErr     string // substring of Err
	}{
		{name: "success stores URL and marker", run: doneRun, entity: "team", project: "proj",
			wantOutcome: ledger.OutcomeSuccess, wantURL: "https://wandb.ai/team/proj/runs/" + doneRunID,
			wantMarker: true, wantUploads: 1},
		{name: "server rejects key", run: doneRun, env: []string{"FAKE_WANDB_MODE=auth"},
			wantOutcome: ledger.OutcomeAuth, wantPause: true, wantErr: "wandb: ERROR user is not logged in"},
		{name: "no key at all", run: doneRun, noKey: true,
			wantOutcome: ledger.OutcomeAuth, wantPause: true, wantErr: "No API key configured"},
		{name: "malformed key", run: doneRun, apiKey: "tooshortkey\n",
			wantOutcome: ledger.OutcomeAuth, wantPause: true, wantErr: "API key must have 40+ characters, has 11"},
		{name: "network down", run: doneRun, env: []string{"FAKE_WANDB_MODE=network"},
			wantOutcome: ledger.OutcomeTransient, wantErr: "giving up after 21 attempt(s)"},
		{name: "rate limited", run: doneRun, env: []string{"FAKE_WANDB_MODE=ratelimit"},
			wantOutcome: ledger.OutcomeTransient, wantErr: "POST https://api.wandb.ai/graphql giving up"},
		{name: "partial upload with marker is retried", run: doneRun, env: []string{"FAKE_WANDB_MODE=fatal"},
			wantOutcome: ledger.OutcomeTransient, wantErr: "Fatal error while uploading data", wantUploads: 1},
		{name: "crash", run: doneRun, env: []string{"FAKE_WANDB_MODE=crash"},
			wantOutcome: ledger.OutcomeOther, wantErr: "RuntimeError: fake wandb crashed"},
		{name: "torn log is refused", run: tornRun,
			wantOutcome: ledger.OutcomeOther, wantErr: "unexpected EOF"},
		{name: "empty log is refused", run: "",
			wantOutcome: ledger.OutcomeOther, wantErr: "bad header: EOF"},
		{name: "legacy success", run: doneRun, env: []string{"FAKE_WANDB_STYLE=legacy"},
			wantOutcome: ledger.OutcomeSuccess, wantURL: "https://wandb.ai/fake-entity/code-toad/runs/" + doneRunID,
			wantMarker: true, wantUploads: 1},
		{name: "legacy 401", run: doneRun, env: []string{"FAKE_WANDB_STYLE=legacy", "FAKE_WANDB_MODE=auth"},
			wantOutcome: ledger.OutcomeAuth, wantPause: true, wantErr: "<Response [401]>"},
		{name: "legacy network error", run: doneRun, env: []string{"FAKE_WANDB_STYLE=legacy", "FAKE_WANDB_MODE=network"},
			wantOutcome: ledger.OutcomeTransient, wantErr: "Network error"},
		{name: "legacy missing key", run: doneRun, noKey: true, env: []string{"FAKE_WANDB_STYLE=legacy"},
			wantOutcome: ledger.OutcomeAuth, wantPause: true, wantErr: "api_key not configured"},
		{name: "key file overrides environment", run: doneRun, env: []string{"WANDB_API_KEY=stale"},
			apiKey: testKey + "\n", wantOutcome: ledger.OutcomeSuccess, wantMarker: true, wantUploads: 1,
			wantURL: "https://wandb.ai/fake-entity/code-toad/runs/" + doneRunID},
		// The engine passes an already synced dir only as an earlier fragment
		// of a run that gets a new one: it must go up again (--include-synced).
		{name: "already synced fragment is uploaded again", run: doneRun, premark: true,
			wantOutcome: ledger.OutcomeSuccess, wantMarker: true, wantUploads: 1,
			wantURL: "https://wandb.ai/fake-entity/code-toad/runs/" + doneRunID},
		// A marker that appears during the call: --include-synced makes the
		// CLI upload the run all the same.
		{name: "marker appearing during the call is uploaded over", run: doneRun, env: []string{"FAKE_WANDB_PLANT_MARKER=1"},
			wantOutcome: ledger.OutcomeSuccess, wantMarker: true, wantUploads: 1,
			wantURL: "https://wandb.ai/fake-entity/code-toad/runs/" + doneRunID},
		// A CLI that skips it anyway has uploaded nothing: not a success,
		// retried, and the marker it did not write is removed.
		{name: "Skipped N synced runs is not an upload", run: doneRun, env: []string{"FAKE_WANDB_PLANT_MARKER=1", "FAKE_WANDB_SKIP_ALWAYS=1"},
			wantOutcome: ledger.OutcomeTransient, wantErr: "skipped the run as already synced"},
		{name: "legacy output without its done line is not an upload", run: doneRun,
			env:         []string{"FAKE_WANDB_STYLE=legacy", "FAKE_WANDB_PLANT_MARKER=1", "FAKE_WANDB_SKIP_ALWAYS=1"},
			wantOutcome: ledger.OutcomeOther, wantErr: "did not confirm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dir string
			if tt.run == "" {
				dir = filepath.Join(t.TempDir(), "wandb", "offline-run-20260101_000000-empty01")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "run-empty01.wandb"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				dir = copyRun(t, tt.run)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "run-*.wandb"))
			marker := logs[0] + ".synced"
			if tt.premark {
				if err := MarkSynced(owner.Self(), logs[0]); err != nil {
					t.Fatal(err)
				}
			}
			fakeLog := filepath.Join(t.TempDir(), "uploads.jsonl")
			env := fakeEnv(t, append([]string{"FAKE_WANDB_LOG=" + fakeLog, "WANDB_MODE=offline"}, tt.env...)...)
			if !tt.noKey && tt.apiKey == "" {
				env = append(env, "WANDB_API_KEY="+testKey)
			}
			u := &Uploader{Wandb: wandb, Env: env, Entity: tt.entity, Project: tt.project,
				WorkDir: filepath.Join(t.TempDir(), "work"), Timeout: 20 * time.Second, Grace: time.Second}
			if tt.apiKey != "" {
				u.APIKey = func() (string, error) { return tt.apiKey, nil }
			}

			res := u.Upload(context.Background(), []string{dir})

			if res.Outcome != tt.wantOutcome || res.Pause != tt.wantPause {
				t.Fatalf("Outcome=%q Pause=%v, want %q %v; err=%v\noutput:\n%s", res.Outcome, res.Pause,
					tt.wantOutcome, tt.wantPause, res.Err, res.Output)
			}
			if tt.wantURL != "" && res.URL != tt.wantURL {
				t.Errorf("URL = %q, want %q", res.URL, tt.wantURL)
			}
			if got := markerOK(t, marker); got != tt.wantMarker {
				t.Errorf("marker exists = %v, want %v", got, tt.wantMarker)
			}
			if tt.wantErr == "" {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
			} else {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want it to contain %q", res.Err, tt.wantErr)
				}
				msg := res.Err.Error()
				if !strings.Contains(msg, filepath.Base(dir)) || strings.Contains(msg, "\n") {
					t.Errorf("Err %q must be one line naming %s", msg, filepath.Base(dir))
				}
			}
			if res.Outcome == ledger.OutcomeSuccess && (res.ExitCode == nil || *res.ExitCode != 0) {
				t.Errorf("ExitCode = %v, want 0", res.ExitCode)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", res.Duration)
			}
			if strings.Contains(res.Output, testKey) {
				t.Errorf("key visible in Output:\n%s", res.Output)
			}
			uploads := readFakeLog(t, fakeLog)
			if len(uploads) != tt.wantUploads {
				t.Fatalf("fake uploaded %d logs, want %d", len(uploads), tt.wantUploads)
			}
			for _, e := range uploads {
				if e.WandbMode != "online" || e.ArgvHasKey || !e.KeyOK {
					t.Errorf("fake saw WANDB_MODE=%q argv_has_key=%v key_ok=%v; want online, false, true",
						e.WandbMode, e.ArgvHasKey, e.KeyOK)
				}
			}
		})
	}
}

func TestUploadSyncsAllDirsOfOneRunInOneCall(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	first := copyRun(t, doneRun)
	second := filepath.Join(t.TempDir(), "wandb", "offline-run-20210216_160000-g9dvvkua")
	if err := os.MkdirAll(second, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(first, doneLog))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, doneLog), b, 0o644); err != nil {
		t.Fatal(err)
	}
	fakeLog := filepath.Join(t.TempDir(), "uploads.jsonl")
	u := &Uploader{Wandb: wandb, Env: fakeEnv(t, "WANDB_API_KEY="+testKey, "FAKE_WANDB_LOG="+fakeLog)}

	res := u.Upload(context.Background(), []string{first, second})

	if res.Outcome != ledger.OutcomeSuccess {
		t.Fatalf("Outcome = %q (%v), want success\n%s", res.Outcome, res.Err, res.Output)
	}
	if n := len(readFakeLog(t, fakeLog)); n != 2 {
		t.Errorf("fake uploaded %d logs, want 2", n)
	}
	for _, d := range []string{first, second} {
		if !markerOK(t, filepath.Join(d, doneLog)+".synced") {
			t.Errorf("no marker in %s", d)
		}
	}
}

func TestUploadRedactsLeakedKey(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	dir := copyRun(t, doneRun)
	fakeLog := filepath.Join(t.TempDir(), "uploads.jsonl")
	u := &Uploader{Wandb: wandb, Env: fakeEnv(t, "FAKE_WANDB_MODE=leak", "FAKE_WANDB_LOG="+fakeLog),
		APIKey: func() (string, error) { return testKey, nil }}

	res := u.Upload(context.Background(), []string{dir})

	if res.Outcome != ledger.OutcomeSuccess {
		t.Fatalf("Outcome = %q (%v), want success", res.Outcome, res.Err)
	}
	if strings.Contains(res.Output, testKey) || strings.Contains(res.Output, testKey[:20]) {
		t.Errorf("key visible in Output:\n%s", res.Output)
	}
	if got := strings.Count(res.Output, wandbout.RedactedText); got != 3 {
		t.Errorf("Output has %d redactions, want the 3 leaked copies:\n%s", got, res.Output)
	}
	uploads := readFakeLog(t, fakeLog)
	if len(uploads) != 1 || uploads[0].ArgvHasKey || !uploads[0].KeyOK {
		t.Errorf("fake log = %+v, want one upload with the key in the env only", uploads)
	}
}

func TestUploadRetrySequence(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	dir := copyRun(t, doneRun)
	state := filepath.Join(t.TempDir(), "calls")
	u := &Uploader{Wandb: wandb, Env: fakeEnv(t, "WANDB_API_KEY="+testKey,
		"FAKE_WANDB_MODE=network,ratelimit,ok", "FAKE_WANDB_STATE="+state)}
	want := []string{ledger.OutcomeTransient, ledger.OutcomeTransient, ledger.OutcomeSuccess}
	for i, w := range want {
		res := u.Upload(context.Background(), []string{dir})
		if res.Outcome != w {
			t.Fatalf("call %d: Outcome = %q (%v), want %q", i+1, res.Outcome, res.Err, w)
		}
	}
}

func TestUploadWritesCLILogsInWorkDir(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	work := filepath.Join(t.TempDir(), "scratch", "wandb-cwd")
	u := &Uploader{Wandb: wandb, Env: fakeEnv(t, "WANDB_API_KEY="+testKey), WorkDir: work}
	if res := u.Upload(context.Background(), []string{copyRun(t, doneRun)}); res.Outcome != ledger.OutcomeSuccess {
		t.Fatalf("Outcome = %q (%v)", res.Outcome, res.Err)
	}
	logs, _ := filepath.Glob(filepath.Join(work, "wandb", "logs", "debug-sync.*.log"))
	if len(logs) != 1 {
		t.Errorf("debug-sync logs under WorkDir: %v, want 1", logs)
	}
}

// processGone reports whether pid has exited (a zombie waiting for its reaper counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

func TestUploadKillsHungCLIAndItsChildren(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	tests := []struct {
		name    string
		cancel  bool
		wantErr error
	}{
		{"timeout", false, ErrUploadTimeout},
		{"daemon shutdown", true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyRun(t, doneRun)
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			u := &Uploader{Wandb: wandb, Timeout: 500 * time.Millisecond, Grace: 200 * time.Millisecond,
				Env: fakeEnv(t, "WANDB_API_KEY="+testKey, "FAKE_WANDB_MODE=hang", "FAKE_WANDB_IGNORE_TERM=1",
					"FAKE_WANDB_SPAWN_CHILD=1", "FAKE_WANDB_PIDFILE="+pidFile)}
			ctx := context.Background()
			if tt.cancel {
				u.Timeout = time.Minute
				c, cancel := context.WithCancel(ctx)
				defer cancel()
				time.AfterFunc(500*time.Millisecond, cancel)
				ctx = c
			}
			start := time.Now()
			res := u.Upload(ctx, []string{dir})
			took := time.Since(start)

			if res.Outcome != ledger.OutcomeTransient || res.Pause {
				t.Errorf("Outcome=%q Pause=%v, want transient", res.Outcome, res.Pause)
			}
			if !errors.Is(res.Err, tt.wantErr) {
				t.Errorf("Err = %v, want %v", res.Err, tt.wantErr)
			}
			if res.ExitCode != nil {
				t.Errorf("ExitCode = %d, want nil (killed)", *res.ExitCode)
			}
			if took > 5*time.Second {
				t.Errorf("took %v to stop a hung CLI", took)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("fake did not report its child: %v", err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			deadline := time.Now().Add(10 * time.Second)
			for !processGone(pid) {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("grandchild %d survived", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if markerOK(t, filepath.Join(dir, doneLog)+".synced") {
				t.Error("a killed sync left a marker")
			}
		})
	}
}

func TestUploadMissingExecutablePauses(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "wandb")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, wandb string }{
		{"absent path", filepath.Join(t.TempDir(), "bin", "wandb")},
		{"not in PATH", "wandb-not-installed-here"},
		{"not executable", notExec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &Uploader{Wandb: tt.wandb, Env: fakeEnv(t, "WANDB_API_KEY="+testKey)}
			res := u.Upload(context.Background(), []string{copyRun(t, doneRun)})
			if res.Outcome != ledger.OutcomeOther || !res.Pause {
				t.Errorf("Outcome=%q Pause=%v, want other + pause", res.Outcome, res.Pause)
			}
			if !errors.Is(res.Err, ErrWandbNotFound) || !strings.Contains(res.Err.Error(), "RUNNER_WANDB") ||
				!strings.Contains(res.Err.Error(), tt.wandb) {
				t.Errorf("Err = %v, want wandb CLI not found naming %s and the fix", res.Err, tt.wandb)
			}
			if res.ExitCode != nil {
				t.Errorf("ExitCode = %d, want nil", *res.ExitCode)
			}
		})
	}
}

func TestUploadRefusesBadDirs(t *testing.T) {
	noLog := t.TempDir()
	tests := []struct {
		name    string
		dirs    []string
		wantErr string
		wantIs  error
	}{
		{"no dirs", nil, "no run dirs", nil},
		{"vanished dir", []string{filepath.Join(t.TempDir(), "offline-run-20260101_000000-gone")}, "run dir missing", ErrUploadDirMissing},
		{"dir without log", []string{noLog}, "no run-*.wandb file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &Uploader{Wandb: "/bin/false"}
			res := u.Upload(context.Background(), tt.dirs)
			if res.Outcome != ledger.OutcomeOther || res.Pause {
				t.Errorf("Outcome=%q Pause=%v, want other", res.Outcome, res.Pause)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Errorf("Err = %v, want %q", res.Err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(res.Err, tt.wantIs) {
				t.Errorf("Err = %v, want errors.Is %v", res.Err, tt.wantIs)
			}
		})
	}
}

func TestUploadEnvReplacesControlledVariables(t *testing.T) {
	base := []string{"PATH=/bin", "WANDB_MODE=offline", "WANDB_API_KEY=old", "TERM=xterm", "WANDB_DIR=/x", "WANDB_BASE_URL=http://h",
		"WANDB_SILENT=true", "WANDB_SHOW_ERRORS=false", "WANDB_CONSOLE=off"} // these would hide ERROR lines or drop output
	got := uploadEnv(base, "newkey", "/work")
	want := []string{"PATH=/bin", "WANDB_BASE_URL=http://h", "WANDB_MODE=online", "WANDB_DIR=/work", "TERM=dumb", "WANDB_API_KEY=newkey"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("uploadEnv = %v, want %v", got, want)
	}
	if got := uploadEnv(base, "", "/work"); strings.Contains(strings.Join(got, "|"), "WANDB_API_KEY") {
		t.Errorf("uploadEnv without key = %v, want no WANDB_API_KEY", got)
	}
}

func TestClassifyUploadOutput(t *testing.T) {
	zero, one, two := 0, 1, 2
	tests := []struct {
		name       string
		lines      []string
		exit       *int
		missing    bool
		want       string
		wantPause  bool
		wantCause  string
		wantURL    string
		wantMarker bool // the cause is ErrMarkerNotWritten
	}{
		{name: "401 body", lines: []string{"wandb: [p/x] setting up run x", "wandb: ERROR user is not logged in"},
			exit: &zero, missing: true, want: ledger.OutcomeAuth, wantPause: true, wantCause: "user is not logged in"},
		{name: "403 body", lines: []string{"wandb: ERROR permission denied"},
			exit: &zero, missing: true, want: ledger.OutcomeAuth, wantPause: true, wantCause: "permission denied"},
		{name: "file permission is not auth", lines: []string{"wandb: ERROR Internal error: open /runs/x/run-x.wandb.synced: permission denied"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "open /runs/x", wantMarker: true},
		{name: "python PermissionError on the marker: uploaded, not auth", lines: []string{
			"Exception in thread Thread-1:", "Traceback (most recent call last):",
			`  File "/usr/lib/python3/dist-packages/wandb/sync/sync.py", line 233, in run`,
			"PermissionError: [Errno 13] Permission denied: '/runs/x/run-x.wandb.synced'"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "could not write its .synced marker", wantMarker: true},
		{name: "read-only dir for the marker", lines: []string{"wandb: ERROR Internal error: open /ro/offline-run-x/run-x.wandb.synced: read-only file system"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "read-only file system", wantMarker: true},
		{name: "vanished dir called forbidden is not auth", lines: []string{"Traceback (most recent call last):",
			"FileNotFoundError: [Errno 2] No such file or directory: '/data/forbidden/offline-run-x/run-x.wandb'"},
			exit: &one, want: ledger.OutcomeOther, wantCause: "FileNotFoundError"},
		{name: "unauthorized in a path is not auth", lines: []string{"wandb: ERROR File does not exist: /data/unauthorized-runs/offline-run-x/run-x.wandb"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "File does not exist"},
		{name: "permission denied in a quoted path is not auth", lines: []string{`wandb: ERROR Failed to read "/data/permission denied/run-x.wandb": transactionlog: bad header: EOF`},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "bad header"},
		{name: "python PermissionError on a log is local", lines: []string{"PermissionError: [Errno 13] Permission denied: '/data/x/run-x.wandb'"},
			exit: &one, want: ledger.OutcomeOther, wantCause: "PermissionError"},
		{name: "timeout in a path is not transient", lines: []string{"OSError: [Errno 5] Input/output error: '/mnt/timeout/run-x.wandb'"},
			exit: &one, want: ledger.OutcomeOther, wantCause: "OSError"},
		{name: "missing key skips the debug-log pointer", lines: []string{
			"wandb: ERROR Find detailed error logs at: /tmp/timeout/wandb/debug-cli.u.log",
			"Error: No API key configured. Use `wandb login` to log in."},
			exit: &one, want: ledger.OutcomeAuth, wantPause: true, wantCause: "Error: No API key configured"},
		{name: "legacy 401 shares a line with stdout", lines: []string{
			"Syncing: https://wandb.ai/e/p/runs/x ... wandb: ERROR Error while calling W&B API: user is not logged in (<Response [401]>)"},
			exit: &zero, missing: true, want: ledger.OutcomeAuth, wantPause: true, wantURL: "https://wandb.ai/e/p/runs/x"},
		{name: "v0.28.2 network", lines: []string{
			`wandb: ERROR Error initializing run: POST https://api.wandb.ai/graphql giving up after 21 attempt(s): Post "https://api.wandb.ai/graphql": dial tcp: lookup api.wandb.ai: no such host`,
			`wandb: ERROR while retrying: Post "https://api.wandb.ai/graphql": dial tcp: lookup api.wandb.ai: no such host`},
			exit: &zero, missing: true, want: ledger.OutcomeTransient, wantCause: "giving up after 21"},
		{name: "legacy 503", lines: []string{"wandb: ERROR Error while calling W&B API: upstream error (<Response [503]>)"},
			exit: &zero, missing: true, want: ledger.OutcomeTransient},
		{name: "server timed out", lines: []string{"wandb: ERROR Timed out."}, exit: &zero, missing: true, want: ledger.OutcomeTransient},
		{name: "server cancelled", lines: []string{"wandb: ERROR Cancelled."}, exit: &zero, missing: true, want: ledger.OutcomeTransient},
		{name: "python connection traceback", lines: []string{"Traceback (most recent call last):",
			"requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.wandb.ai', port=443): Max retries exceeded ([Errno 111] Connection refused)"},
			exit: &one, want: ledger.OutcomeTransient, wantCause: "requests.exceptions.ConnectionError"},
		{name: "legacy network warning", lines: []string{"wandb: Network error (ConnectionError), entering retry loop."},
			exit: &zero, missing: true, want: ledger.OutcomeTransient},
		{name: "fatal upload although marked", lines: []string{"wandb: [p/x] View run n at https://wandb.ai/e/p/runs/x",
			"wandb: ERROR [p/x] Fatal error while uploading data. Some run data will not be synced.", "wandb: [p/x] Finished syncing d"},
			exit: &zero, want: ledger.OutcomeTransient, wantURL: "https://wandb.ai/e/p/runs/x"},
		{name: "checksum error", lines: []string{"wandb: ERROR Internal error: transactionlog: error getting next record: leveldb/record: invalid chunk (checksum mismatch)"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "checksum mismatch"},
		{name: "usage error", lines: []string{"Usage: wandb sync [OPTIONS] [PATH]...", "Try 'wandb sync --help' for help.", "",
			"Error: Invalid value for '[PATH]...': Path '/x' does not exist."},
			exit: &two, want: ledger.OutcomeOther, wantCause: "does not exist"},
		{name: "silent exit 0 without marker", lines: nil, exit: &zero, missing: true,
			want: ledger.OutcomeOther, wantCause: "did not confirm run-x.wandb"},
		{name: "exit 1 without diagnostics", lines: []string{"something odd"}, exit: &one,
			want: ledger.OutcomeOther, wantCause: "wandb sync exited 1: something odd"},
		{name: "run names in progress lines are not diagnostics", lines: []string{
			"wandb: [proj/timeout-permission-denied] setting up run x",
			"wandb: [proj/timeout-permission-denied] View run rate-limit-test at https://wandb.ai/e/proj/runs/x"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantCause: "no .synced marker",
			wantURL: "https://wandb.ai/e/proj/runs/x"},
		{name: "nameless view line", lines: []string{"wandb: [x] View run at http://localhost:8080/e/p/runs/x"},
			exit: &zero, missing: true, want: ledger.OutcomeOther, wantURL: "http://localhost:8080/e/p/runs/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wandbout.NewScan(nil, nil)
			s.Consume(strings.NewReader(strings.Join(tt.lines, "\n")))
			var missing []string
			if tt.missing {
				missing = []string{"/runs/x/run-x.wandb"}
			}
			got, pause, cause := classifyUpload(uploadRun{Exit: wandbout.Exit{Code: tt.exit}}, s, missing)
			if got != tt.want || pause != tt.wantPause {
				t.Errorf("classify = %q pause=%v (%v), want %q pause=%v", got, pause, cause, tt.want, tt.wantPause)
			}
			if !strings.Contains(cause.Error(), tt.wantCause) {
				t.Errorf("cause = %q, want it to contain %q", cause, tt.wantCause)
			}
			if errors.Is(cause, ErrMarkerNotWritten) != tt.wantMarker {
				t.Errorf("cause %q: marker-not-written = %v, want %v", cause, !tt.wantMarker, tt.wantMarker)
			}
			if tt.wantURL != "" && s.URL() != tt.wantURL {
				t.Errorf("url = %q, want %q", s.URL(), tt.wantURL)
			}
		})
	}
}

func TestUploadReapsLingeringChildrenAfterSuccess(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	u := &Uploader{Wandb: wandb, Grace: 300 * time.Millisecond,
		Env: fakeEnv(t, "WANDB_API_KEY="+testKey, "FAKE_WANDB_SPAWN_CHILD=1", "FAKE_WANDB_PIDFILE="+pidFile)}
	start := time.Now()
	res := u.Upload(context.Background(), []string{copyRun(t, doneRun)})
	if res.Outcome != ledger.OutcomeSuccess {
		t.Fatalf("Outcome = %q (%v)", res.Outcome, res.Err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a grandchild holding the output pipe delayed Upload by %v", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The fake must keep the real CLI's contract (docs/wandb-sync-output.md), or the tests above
// prove nothing about the real thing.
func TestFakeWandbFollowsDocumentedOutput(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	run := func(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(wandb, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = fakeEnv(t, append([]string{"WANDB_API_KEY=" + testKey}, env...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}

	t.Run("version", func(t *testing.T) {
		out, _, code := run(t, nil, "--version")
		if out != "wandb, version 0.28.2\n" || code != 0 {
			t.Errorf("--version = %q exit %d", out, code)
		}
	})
	t.Run("missing path is a usage error", func(t *testing.T) {
		_, errOut, code := run(t, nil, "sync", "/no/such/run")
		want := "Usage: wandb sync [OPTIONS] [PATH]...\nTry 'wandb sync --help' for help.\n\n" +
			"Error: Invalid value for '[PATH]...': Path '/no/such/run' does not exist.\n"
		if errOut != want || code != 2 {
			t.Errorf("stderr %q exit %d, want %q exit 2", errOut, code, want)
		}
	})
	t.Run("success prints to stderr only and ends with Finished", func(t *testing.T) {
		dir := copyRun(t, doneRun)
		out, errOut, code := run(t, nil, "sync", dir)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if out != "" || code != 0 || lines[0] != "wandb: Using wandb beta sync. Turn this off with --legacy." ||
			!strings.HasPrefix(lines[len(lines)-1], "wandb: [code-toad/g9dvvkua] Finished syncing ") {
			t.Errorf("stdout %q exit %d stderr:\n%s", out, code, errOut)
		}
		if !markerOK(t, filepath.Join(dir, doneLog)+".synced") {
			t.Error("no marker")
		}
	})
	t.Run("synced run is skipped", func(t *testing.T) {
		dir := copyRun(t, doneRun)
		if err := MarkSynced(owner.Self(), filepath.Join(dir, doneLog)); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := run(t, nil, "sync", dir)
		if code != 0 || !strings.Contains(errOut, "wandb: Skipped 1 synced run(s). Include with --no-skip-synced.\nwandb: No runs to sync.\n") {
			t.Errorf("exit %d stderr:\n%s", code, errOut)
		}
	})
	t.Run("one empty log aborts the whole call", func(t *testing.T) {
		good := copyRun(t, doneRun)
		empty := filepath.Join(t.TempDir(), "offline-run-20260101_000000-empty01")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(empty, "run-empty01.wandb"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := run(t, nil, "sync", good, empty)
		if code != 0 || !strings.Contains(errOut, `wandb: ERROR Failed to read "`+empty+`": transactionlog: bad header: EOF`) {
			t.Errorf("exit %d stderr:\n%s", code, errOut)
		}
		if markerOK(t, filepath.Join(good, doneLog)+".synced") {
			t.Error("the good run was synced in an aborted call")
		}
	})
	t.Run("legacy torn log warns and leaves no marker", func(t *testing.T) {
		dir := copyRun(t, tornRun)
		out, errOut, code := run(t, []string{"FAKE_WANDB_STYLE=legacy"}, "sync", dir)
		if code != 0 || !strings.Contains(out, "/runs/l69sfsyk ... done.\n") ||
			!strings.Contains(errOut, "wandb: WARNING .wandb file is incomplete") {
			t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
		}
		if markerOK(t, filepath.Join(dir, tornLog)+".synced") {
			t.Error("legacy marked a torn run")
		}
	})
}

// markerOK reports whether path is a valid .synced marker (rundir.Marker).
func markerOK(t *testing.T, path string) bool {
	t.Helper()
	ok, err := rundir.Marker(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Logf("marker %s: %v", path, err)
	}
	return ok
}
