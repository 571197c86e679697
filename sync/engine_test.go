package sync

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/proc"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/wandbfile"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	job := int64(7)
	tests := []struct {
		name      string
		run       ledger.Run
		heldOpen  bool
		jobActive bool
		ready     bool
		other     bool // written by other hosts (--poll)
	}{
		{"footer: ready at once", ledger.Run{Meta: ledger.Meta{Footer: true, Finished: true}, MTime: now}, false, false, true, false},
		{"exit record, still inside the quiet period", ledger.Run{Meta: ledger.Meta{Finished: true}, MTime: now.Add(-5 * time.Second)}, false, false, false, false},
		{"exit record, quiet period over", ledger.Run{Meta: ledger.Meta{Finished: true}, MTime: now.Add(-11 * time.Second)}, false, false, true, false},
		{"no exit, growing recently", ledger.Run{MTime: now.Add(-5 * time.Minute)}, false, false, false, false},
		{"no exit, settled, nobody holds it", ledger.Run{MTime: now.Add(-11 * time.Minute)}, false, false, true, false},
		{"no exit, settled but held open by a process", ledger.Run{MTime: now.Add(-11 * time.Minute)}, true, false, false, false},
		{"copied in with old times", ledger.Run{MTime: now.Add(-30 * 24 * time.Hour)}, false, false, true, false},
		{"owned by a job that still runs", ledger.Run{Meta: ledger.Meta{RunID: "abc"}, JobID: &job, MTime: now.Add(-time.Hour)}, false, true, false, false},
		{"owned by a job that ended: ready without settling", ledger.Run{Meta: ledger.Meta{RunID: "abc"}, JobID: &job, MTime: now}, false, false, true, false},
		{"not active", ledger.Run{Meta: ledger.Meta{Footer: true}, State: ledger.StatePending}, false, false, false, false},
		// On a shared file system no process of another host shows as holding it open.
		{"other hosts: settled is not enough", ledger.Run{MTime: now.Add(-30 * 24 * time.Hour)}, false, false, false, true},
		{"other hosts: exit record, quiet", ledger.Run{Meta: ledger.Meta{Finished: true}, MTime: now.Add(-11 * time.Second)}, false, false, true, true},
		{"other hosts: its job ended", ledger.Run{Meta: ledger.Meta{RunID: "abc"}, JobID: &job, MTime: now}, false, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(EngineOptions{
				HeldOpen:   func(string) bool { return tt.heldOpen },
				JobActive:  func(context.Context, string) bool { return tt.jobActive },
				OtherHosts: tt.other,
			})
			if tt.run.State == "" {
				tt.run.State = ledger.StateActive
			}
			ok, why := e.Readiness(context.Background(), tt.run, now)
			if ok != tt.ready {
				t.Errorf("ready = %v (%q), want %v", ok, why, tt.ready)
			}
			if ok && why == "" {
				t.Error("ready without a reason")
			}
		})
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	e := NewEngine(EngineOptions{BackoffBase: time.Second, BackoffMax: time.Minute})
	for attempt := 1; attempt <= 12; attempt++ {
		want := time.Second << (attempt - 1)
		if want > time.Minute {
			want = time.Minute
		}
		for range 50 {
			d := e.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

// fakeSyncer answers uploads from a script and records what it was asked.
type fakeSyncer struct {
	mu      gosync.Mutex
	results []UploadResult
	calls   [][]string
	delay   time.Duration // each upload takes this long
}

func (f *fakeSyncer) Upload(_ context.Context, dirs []string) UploadResult {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, dirs)
	r := f.results[0]
	if len(f.results) > 1 {
		f.results = f.results[1:]
	}
	if r.Outcome == ledger.OutcomeSuccess {
		for _, d := range dirs {
			m, _ := filepath.Glob(filepath.Join(d, "run-*.wandb"))
			MarkSynced(owner.Self(), m[0])
		}
	}
	return r
}

func writeLog(t testing.TB, parent, id string, start time.Time, finished bool) string {
	t.Helper()
	dir := filepath.Join(parent, "offline-run-"+start.Format("20060102_150405")+"-"+id)
	os.MkdirAll(dir, 0o755)
	w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Header(0)
	w.Run(wandbtest.Run{ID: id, Project: "p", StartTime: start})
	w.Row(0, 1, start, map[string]float64{"loss": 1})
	if finished {
		w.Exit(0, 5)
		w.Footer()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTestEngine(t *testing.T, s Syncer) (*Engine, *ledger.DB) {
	t.Helper()
	db := ledgertest.Open(t, "", ledger.Options{})
	// One group per call: these tests script the fake call by call.
	return NewEngine(EngineOptions{Store: db, Uploader: s, MaxAttempts: 3, Batch: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, TmpDir: t.TempDir()}), db
}

func observeAll(t *testing.T, e *Engine, root string) {
	t.Helper()
	var dirs []RunDir
	if err := Scan(context.Background(), root, func(d RunDir) error { dirs = append(dirs, d); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Observe(context.Background(), dirs, nil); err != nil {
		t.Fatal(err)
	}
}

// Dirs that share a run id go up together in one call, oldest first.
func TestUploadGroupsStagesOldestFirst(t *testing.T) {
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess, URL: "https://wandb.ai/e/p/runs/same"}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	late := writeLog(t, filepath.Join(root, "wandb"), "same", t0.Add(time.Hour), true)
	early := writeLog(t, filepath.Join(root, "wandb"), "same", t0, true)
	writeLog(t, filepath.Join(root, "wandb"), "other", t0, true)
	observeAll(t, e, root)
	outs, err := e.Drain(context.Background(), 1, nil)
	if err != nil || len(outs) != 2 {
		t.Fatalf("drain: %v, %d uploads, want 2", err, len(outs))
	}
	var group []string
	for _, c := range f.calls {
		if len(c) == 2 {
			group = c
		}
	}
	if len(group) != 2 || group[0] != early || group[1] != late {
		t.Fatalf("calls %v: want one call with %s then %s", f.calls, early, late)
	}
	rs, _ := db.ListRuns(context.Background(), ledger.Filter{State: ledger.StateSynced})
	if len(rs) != 3 {
		t.Errorf("%d runs synced, want 3", len(rs))
	}
}

func TestUploadFailuresRetryThenFail(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeOther, Err: errString("bad file")}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	dir := writeLog(t, root, "flaky", time.Now(), true)
	observeAll(t, e, root)
	for i := 1; i <= 3; i++ {
		time.Sleep(5 * time.Millisecond) // past the 1 ms backoff
		if _, ok, err := e.UploadNext(ctx, nil); err != nil || !ok {
			t.Fatalf("attempt %d: claimed %v, %v", i, ok, err)
		}
		r, _ := db.GetRun(ctx, dir)
		want := ledger.StatePending
		if i == 3 {
			want = ledger.StateFailed
		}
		if r.Attempts != i || r.State != want || r.LastError == "" {
			t.Fatalf("after attempt %d: state %s attempts %d last error %q; want %s with %d attempts", i, r.State, r.Attempts, r.LastError, want, i)
		}
	}
	if _, ok, _ := e.UploadNext(ctx, nil); ok {
		t.Error("a failed run was claimed again without --retry")
	}
}

func TestAuthFailurePausesWithoutUsingAttempts(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeAuth, Pause: true, Err: errString("user is not logged in")}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	writeLog(t, root, "a1", time.Now(), true)
	writeLog(t, root, "a2", time.Now(), true)
	observeAll(t, e, root)
	if _, ok, _ := e.UploadNext(ctx, nil); !ok {
		t.Fatal("nothing claimed")
	}
	p, paused, _ := db.UploadsPaused(ctx, nil)
	if !paused || p.Reason == "" {
		t.Fatalf("uploads not paused after an auth failure")
	}
	if _, ok, _ := e.UploadNext(ctx, nil); ok {
		t.Error("an upload started while uploads are paused")
	}
	rs, _ := db.ListRuns(ctx, ledger.Filter{})
	for _, r := range rs {
		if r.Attempts != 0 || r.State != ledger.StatePending {
			t.Errorf("run %s: %s with %d attempts; want pending, 0 attempts", r.RunID, r.State, r.Attempts)
		}
	}
}

func TestVanishedDirBecomesMissing(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	dir := writeLog(t, root, "gone", time.Now(), true)
	observeAll(t, e, root)
	os.RemoveAll(dir)
	if _, ok, err := e.UploadNext(ctx, nil); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	r, _ := db.GetRun(ctx, dir)
	if r.State != ledger.StateMissing || len(f.calls) != 0 {
		t.Errorf("state %s after %d wandb calls; want missing, no call", r.State, len(f.calls))
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A big log that keeps growing is not re-read from the start on every write:
// after a read that took a second, the next one waits ten.
func TestGrowingBigLogRereadIsThrottled(t *testing.T) {
	ctx := context.Background()
	e, _ := newTestEngine(t, &fakeSyncer{results: []UploadResult{{}}})
	now := time.Now()
	e.Now = func() time.Time { return now }
	root := t.TempDir()
	dir := writeLog(t, root, "big", now, false)
	rd, _ := InspectRunDir(dir)
	if rows, _, _ := e.Observe(ctx, []RunDir{rd}, nil); len(rows) != 1 {
		t.Fatal("first sight not recorded")
	}
	e.noteRead(rd.Dir, now, time.Second) // pretend it was slow
	rd.Size++                            // it grew
	if rows, _, _ := e.Observe(ctx, []RunDir{rd}, nil); len(rows) != 0 {
		t.Fatal("re-read right after a slow read")
	}
	now = now.Add(11 * time.Second)
	if rows, _, _ := e.Observe(ctx, []RunDir{rd}, nil); len(rows) != 1 || rows[0].Size != rd.Size {
		t.Fatalf("not re-read after the window: %v", rows)
	}
}

// A run synced by hand (`wandb sync` wrote the marker) after runner marked it
// ready is recorded as synced from the marker, without calling the CLI.
func TestMarkerAppearedBeforeUpload(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	dir := writeLog(t, root, "byhand", time.Now(), true)
	observeAll(t, e, root)
	m, _ := filepath.Glob(filepath.Join(dir, "run-*.wandb"))
	if err := MarkSynced(owner.Self(), m[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.UploadNext(ctx, nil); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	r, _ := db.GetRun(ctx, dir)
	if r.State != ledger.StateSynced || r.Source != ledger.SourceMarker || len(f.calls) != 0 {
		t.Errorf("state %s source %q after %d wandb calls; want synced from the marker, no call", r.State, r.Source, len(f.calls))
	}
}

// A settled log held open by a live process is not ready, and /proc is not
// scanned again on every tick while it stays so.
func TestHeldOpenIsRecheckedSparingly(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	calls, held := 0, true
	e := NewEngine(EngineOptions{HeldOpen: func(string) bool { calls++; return held }})
	r := ledger.Run{State: ledger.StateActive, MTime: now.Add(-time.Hour), LogPath: "/x/run-a.wandb"}
	for i := range 10 {
		if ok, _ := e.Readiness(context.Background(), r, now.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("ready while held open")
		}
	}
	if calls != 1 {
		t.Errorf("HeldOpen called %d times in 10 s, want 1", calls)
	}
	held = false
	if ok, _ := e.Readiness(context.Background(), r, now.Add(31*time.Second)); !ok || calls != 2 {
		t.Errorf("after the writer closed it: ready %v after %d checks, want ready after 2", ok, calls)
	}
}

// A later fragment of a run already synced (a resume in a new dir) goes up in
// one call with the earlier fragment, oldest first: alone it would replace
// the run's history on W&B.
func TestLateFragmentGoesUpWithSyncedOnes(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := writeLog(t, filepath.Join(root, "wandb"), "resumed", t0, true)
	observeAll(t, e, root)
	if _, err := e.Drain(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	second := writeLog(t, filepath.Join(root, "wandb"), "resumed", t0.Add(time.Hour), true)
	observeAll(t, e, root)
	if _, err := e.Drain(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || len(f.calls[1]) != 2 || f.calls[1][0] != first || f.calls[1][1] != second {
		t.Fatalf("calls %v: want the second with %s then %s", f.calls, first, second)
	}
	for _, d := range []string{first, second} {
		if r, _ := db.GetRun(ctx, d); r.State != ledger.StateSynced {
			t.Errorf("%s is %s, want synced", d, r.State)
		}
	}
}

// Network, rate-limit and timeout failures back off but never use up
// --max-attempts: a W&B outage of any length does not fail runs.
func TestTransientFailuresNeverFailARun(t *testing.T) {
	ctx := context.Background()
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeTransient, Err: errString("network down")}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	dir := writeLog(t, root, "outage", time.Now(), true)
	observeAll(t, e, root)
	for i := 1; i <= 6; i++ { // twice --max-attempts
		time.Sleep(5 * time.Millisecond)
		if _, ok, err := e.UploadNext(ctx, nil); err != nil || !ok {
			t.Fatalf("attempt %d: claimed %v, %v", i, ok, err)
		}
	}
	if r, _ := db.GetRun(ctx, dir); r.State != ledger.StatePending || r.Attempts != 6 {
		t.Errorf("after 6 network failures: %s with %d attempts, want pending with 6", r.State, r.Attempts)
	}
}

// A log whose mtime moved but not its size (touched, copied with new times)
// is not read again: only its quiet-period clock restarts.
func TestTouchedLogIsNotReadAgain(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}})
	reads := 0
	e.ReadLog = func(p string) (*ledger.Meta, error) { reads++; return ReadMeta(p) }
	root := t.TempDir()
	dir := writeLog(t, root, "touch1", time.Now(), false)
	observeAll(t, e, root)
	later := time.Now().Add(time.Hour)
	log := filepath.Join(dir, "run-touch1.wandb")
	if err := os.Chtimes(log, later, later); err != nil {
		t.Fatal(err)
	}
	observeAll(t, e, root)
	if reads != 1 {
		t.Errorf("log read %d times, want once (a touch changes no content)", reads)
	}
	r, err := db.GetRun(ctx, dir)
	if err != nil || r.MTime.UnixMilli() != later.UnixMilli() {
		t.Errorf("row mtime %v (%v), want the new %v", r.MTime, err, later)
	}
}

func TestHolderGone(t *testing.T) {
	host, _ := os.Hostname()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	live := cmd.Process.Pid
	ticks, err := proc.StartTicks(live)
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for _, tt := range []struct {
		owner string
		gone  bool
	}{
		{fmt.Sprintf("%s:%d:%d:abcd", host, live, ticks), false},
		{fmt.Sprintf("%s:%d:%d:abcd", host, live, ticks+1), true}, // the pid was reused
		{fmt.Sprintf("%s:%d:%d:abcd", host, dead.Process.Pid, 1), true},
		{fmt.Sprintf("other-host:%d:%d:abcd", dead.Process.Pid, 1), false},
		{fmt.Sprintf("%s:%d:abcd", host, dead.Process.Pid), true}, // older owner names
		{fmt.Sprintf("%s:%d:abcd", host, live), false},
		{"garbage", false},
	} {
		if got := holderGone(tt.owner); got != tt.gone {
			t.Errorf("holderGone(%q) = %v, want %v", tt.owner, got, tt.gone)
		}
	}
}

// Every log runner cannot upload is recorded, skipped with its own reason,
// and judged again when it changes: a log from a newer wandb is never
// silently dropped as "empty".
func TestUnreadableLogsGetTheirOwnReason(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		make  func(t *testing.T, path string)
		want  string
		warns bool // a log caught as wandb creates it is no cause for a warning
	}{
		{"zero bytes", func(t *testing.T, p string) { mustWrite(t, p, nil) }, "not readable: empty file (0 bytes)", false},
		{"shorter than a header", func(t *testing.T, p string) { mustWrite(t, p, []byte(":W&")) }, "not readable: too short for a .wandb header", false},
		{"garbage", func(t *testing.T, p string) { mustWrite(t, p, []byte("this is not a wandb log at all")) }, "not readable: not a .wandb log (foreign header)", true},
		{"newer format version", func(t *testing.T, p string) {
			w, err := wandbtest.Create(p, wandbtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_ = w.FileHeader(9)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}, "not readable: unsupported .wandb format version 9", true},
		{"header only", func(t *testing.T, p string) {
			w, err := wandbtest.Create(p, wandbtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_ = w.Header(0)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}, "empty log: nothing to upload", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, db := newTestEngine(t, &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}})
			var warnings strings.Builder
			e.Logger = slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))
			root := t.TempDir()
			dir := filepath.Join(root, "offline-run-20260101_000000-bad1")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "run-bad1.wandb")
			tt.make(t, log)
			observeAll(t, e, root)
			r, err := db.GetRun(ctx, dir)
			if err != nil || r.State != ledger.StateSkipped || !strings.HasPrefix(r.Reason, tt.want) {
				t.Fatalf("run: %s %q (%v), want skipped %q", r.State, r.Reason, err, tt.want)
			}
			if warned := strings.Contains(warnings.String(), "not a readable .wandb log"); warned != tt.warns {
				t.Errorf("warned %v, want %v: %q", warned, tt.warns, warnings.String())
			}
			// The log is replaced by a real one (the run was just starting,
			// or runner was upgraded): judged again, not left skipped.
			if err := os.Remove(log); err != nil {
				t.Fatal(err)
			}
			writeLog(t, root, "bad1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true)
			observeAll(t, e, root)
			if r, _ := db.GetRun(ctx, dir); r.State == ledger.StateSkipped {
				t.Errorf("after a readable log replaced it: still skipped (%q)", r.Reason)
			}
		})
	}
}

// A run skipped as unreadable by an older reader is read again once a newer
// reader judges the ledger (runner upgraded), and then uploaded; with the
// same reader it is left alone. A run the user skipped is never touched.
func TestNewReaderReadsUnreadableRunsAgain(t *testing.T) {
	ctx := context.Background()
	e, db := newTestEngine(t, &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}})
	if _, err := db.ReadAgainWith(ctx, "0"); err != nil { // the ledger was judged by reader 0
		t.Fatal(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "offline-run-20260101_000000-new9")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-new9.wandb"), wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.FileHeader(9)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	userSkipped := writeLog(t, root, "mine", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true)
	observeAll(t, e, root)
	if _, err := db.Skip(ctx, []string{userSkipped}, "not this one"); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.GetRun(ctx, dir); r.State != ledger.StateSkipped {
		t.Fatalf("version 9 log: %s %q, want skipped", r.State, r.Reason)
	}
	// The new reader understands version 9 (here: it reads a good log).
	good := writeLog(t, t.TempDir(), "new9", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true)
	e.ReadLog = func(string) (*ledger.Meta, error) { return ReadMeta(filepath.Join(good, "run-new9.wandb")) }
	observeAll(t, e, root)
	if r, _ := db.GetRun(ctx, dir); r.State != ledger.StateSkipped {
		t.Fatalf("unchanged log read again without a new reader: %s", r.State)
	}
	if err := e.ReadAgain(ctx); err != nil {
		t.Fatal(err)
	}
	observeAll(t, e, root)
	if r, _ := db.GetRun(ctx, dir); r.State == ledger.StateSkipped || r.RunID != "new9" {
		t.Fatalf("after the new reader: %s %q run id %q, want read again", r.State, r.Reason, r.RunID)
	}
	if r, _ := db.GetRun(ctx, userSkipped); r.State != ledger.StateSkipped || r.Reason != "not this one" {
		t.Errorf("user-skipped run: %s %q, want left skipped", r.State, r.Reason)
	}
	if n, err := db.ReadAgainWith(ctx, wandbfile.ReaderVersion); err != nil || n != 0 {
		t.Errorf("same reader again: %d runs put back (%v), want 0", n, err)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
