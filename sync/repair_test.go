package sync

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func TestRepairCutsTornLogAndCopiesFiles(t *testing.T) {
	dir := copyRun(t, tornRun)
	logPath := filepath.Join(dir, tornLog)
	// Extra files/ content: a nested file is copied, a symlink is not.
	if err := os.MkdirAll(filepath.Join(dir, "files", "media", "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "files", "media", "images", "a.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "files", "leak")); err != nil {
		t.Fatal(err)
	}
	orig, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !orig.TornTail || orig.GoodOffset >= orig.Size {
		t.Fatalf("fixture is not torn: TornTail=%v GoodOffset=%d Size=%d", orig.TornTail, orig.GoodOffset, orig.Size)
	}
	before, _ := os.ReadFile(logPath)

	tmpRoot := filepath.Join(t.TempDir(), "repairs")
	repaired, cleanup, err := Repair(owner.Self(), dir, logPath, orig.GoodOffset, tmpRoot)
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if filepath.Base(repaired) != filepath.Base(dir) {
		t.Errorf("repaired dir %s, want the same base name as %s", repaired, dir)
	}
	got, err := wandbfile.ReadFile(filepath.Join(repaired, tornLog), wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.TornTail || got.Err != nil {
		t.Errorf("repaired log: TornTail=%v Err=%v, want a clean log", got.TornTail, got.Err)
	}
	// The log is cut after its last complete record and closed with the exit
	// record (code 1) the killed process never wrote.
	want := maps.Clone(orig.Records)
	want["exit"] = 1
	if !maps.Equal(got.Records, want) {
		t.Errorf("records %v, want %v", got.Records, want)
	}
	if !got.Finished || got.ExitCode == nil || *got.ExitCode != 1 {
		t.Errorf("repaired log: finished %v, exit code %v; want finished with exit code 1", got.Finished, got.ExitCode)
	}
	if got.Size <= orig.GoodOffset || got.Size > orig.GoodOffset+32 {
		t.Errorf("repaired log is %d bytes, want the %d-byte cut plus one small record", got.Size, orig.GoodOffset)
	}
	if got.RunID != orig.RunID {
		t.Errorf("run id %q, want %q", got.RunID, orig.RunID)
	}
	for _, f := range []string{"files/wandb-metadata.json", "files/media/images/a.png"} {
		want, _ := os.ReadFile(filepath.Join(dir, f))
		have, err := os.ReadFile(filepath.Join(repaired, f))
		if err != nil || !bytes.Equal(have, want) {
			t.Errorf("%s not copied: %v", f, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(repaired, "files", "leak")); !os.IsNotExist(err) {
		t.Errorf("symlink copied into the repaired dir (err=%v)", err)
	}
	if after, _ := os.ReadFile(logPath); !bytes.Equal(after, before) {
		t.Error("Repair changed the original log")
	}

	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(repaired); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s", repaired)
	}
	if left, _ := os.ReadDir(tmpRoot); len(left) != 0 {
		t.Errorf("cleanup left %d entries in tmpRoot", len(left))
	}
}

func TestRepairRejectsBadCut(t *testing.T) {
	dir := copyRun(t, tornRun)
	logPath := filepath.Join(dir, tornLog)
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		log     string
		cut     int64
		wantErr string
	}{
		{"past the end", logPath, st.Size() + 1, "outside the log"},
		{"negative", logPath, -1, "outside the log"},
		{"inside the header", logPath, 3, "outside the log"},
		{"missing log", filepath.Join(dir, "run-nope.wandb"), 7, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpRoot := t.TempDir()
			_, cleanup, err := Repair(owner.Self(), dir, tt.log, tt.cut, tmpRoot)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), filepath.Base(dir)) {
				t.Errorf("Repair err = %v, want %q naming the dir", err, tt.wantErr)
			}
			if cleanup != nil {
				t.Error("cleanup returned with an error")
			}
			if left, _ := os.ReadDir(tmpRoot); len(left) != 0 {
				t.Errorf("failed Repair left %d entries in tmpRoot", len(left))
			}
		})
	}
}

func TestRepairWithoutFilesDir(t *testing.T) {
	dir := copyRun(t, tornRun)
	if err := os.RemoveAll(filepath.Join(dir, "files")); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, tornLog)
	info, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repaired, cleanup, err := Repair(owner.Self(), dir, logPath, info.GoodOffset, t.TempDir())
	if err != nil {
		t.Fatalf("Repair of a run without files/: %v", err)
	}
	defer cleanup()
	if _, err := os.Stat(filepath.Join(repaired, tornLog)); err != nil {
		t.Error(err)
	}
}

// A killed run goes through the whole path: the CLI refuses the torn original, accepts the
// repaired copy, and the original then gets its marker. The legacy CLI, which marks a run
// synced only after an exit record, accepts it too: the copy ends with one.
func TestRepairedTornRunUploads(t *testing.T) {
	for _, style := range []string{"beta", "legacy"} {
		t.Run(style, func(t *testing.T) { testRepairedTornRunUploads(t, style) })
	}
}

func testRepairedTornRunUploads(t *testing.T, style string) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	dir := copyRun(t, tornRun)
	logPath := filepath.Join(dir, tornLog)
	u := &Uploader{Wandb: wandb, Env: fakeEnv(t, "WANDB_API_KEY="+testKey, "FAKE_WANDB_STYLE="+style)}
	if res := u.Upload(context.Background(), []string{dir}); res.Outcome != ledger.OutcomeOther {
		t.Fatalf("torn original: Outcome = %q, want other", res.Outcome)
	}
	info, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repaired, cleanup, err := Repair(owner.Self(), dir, logPath, info.GoodOffset, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()

	res := u.Upload(context.Background(), []string{repaired})
	if res.Outcome != ledger.OutcomeSuccess {
		t.Fatalf("repaired copy: Outcome = %q (%v)\n%s", res.Outcome, res.Err, res.Output)
	}
	if !strings.HasSuffix(res.URL, "/runs/"+info.RunID) {
		t.Errorf("URL = %q, want the run %s", res.URL, info.RunID)
	}
	if markerOK(t, logPath+".synced") {
		t.Fatal("original marked before MarkSynced")
	}
	if err := MarkSynced(owner.Self(), logPath); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(logPath + ".synced")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 0 {
		t.Errorf("marker has %d bytes, want an empty file", st.Size())
	}
	if err := MarkSynced(owner.Self(), logPath); err != nil {
		t.Errorf("MarkSynced on a marked run: %v", err)
	}
}

// A log with a corrupt chunk in the middle (which the CLI stops at) is
// rewritten from every record the reader recovers, and then uploads.
func TestRepairRewritesCorruptLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "offline-run-20260101_000000-crc00001")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "run-crc00001.wandb")
	w, err := wandbtest.Create(logPath, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Header(0)
	w.Run(wandbtest.Run{ID: "crc00001", Project: "p"})
	for i := range 200 { // two blocks of history
		w.History(int64(i), wandbtest.Float("loss", float64(i)), wandbtest.String("pad", strings.Repeat("x", 200)))
	}
	w.RawChunk(0xdeadbeef, 5, wandbtest.ChunkFull, []byte("bogus")) // bad CRC
	w.PadBlock()
	for i := 200; i < 210; i++ {
		w.History(int64(i), wandbtest.Float("loss", float64(i)))
	}
	w.Exit(0, 30)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil || orig.Err == nil {
		t.Fatalf("setup: want a log with a read error, got %v / %v", err, orig.Err)
	}
	repaired, cleanup, err := Repair(owner.Self(), dir, logPath, orig.GoodOffset, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	got, err := wandbfile.ReadFile(filepath.Join(repaired, "run-crc00001.wandb"), wandbfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Err != nil || got.TornTail || !got.Finished || *got.ExitCode != 0 {
		t.Errorf("rewritten log: err %v torn %v finished %v exit %v; want clean, finished, exit 0", got.Err, got.TornTail, got.Finished, got.ExitCode)
	}
	if !maps.Equal(got.Records, orig.Records) || got.HistoryRows != orig.HistoryRows {
		t.Errorf("rewritten records %v (%d rows), want the recovered %v (%d rows)", got.Records, got.HistoryRows, orig.Records, orig.HistoryRows)
	}
	u := &Uploader{Wandb: testbin.Build(t, "./testdata/fakewandb", "wandb"), Env: fakeEnv(t, "WANDB_API_KEY="+testKey)}
	if res := u.Upload(context.Background(), []string{dir}); res.Outcome == ledger.OutcomeSuccess {
		t.Errorf("the corrupt original uploaded: the fake should stop at the bad chunk like the CLI")
	}
	if res := u.Upload(context.Background(), []string{repaired}); res.Outcome != ledger.OutcomeSuccess {
		t.Errorf("rewritten copy: %s (%v)", res.Outcome, res.Err)
	}
}
