package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// A rescan that finds run dirs gone marks every one of them missing, with a
// warning each; a dir still there, a run already synced and a run outside
// the watched roots are left as they are.
func TestRescanMarksEveryVanishedRunMissing(t *testing.T) {
	ctx := context.Background()
	db := testLedger(t)
	root, other := t.TempDir(), t.TempDir()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var obs []ledger.Observation
	add := func(parent, id string, marker bool) string {
		dir := filepath.Join(parent, "wandb", "offline-run-20261207_120000-"+id)
		obs = append(obs, ledger.Observation{Dir: dir, LogPath: filepath.Join(dir, "run-"+id+".wandb"), Size: 100, MTime: t0,
			MarkerExists: marker, Meta: &ledger.Meta{RunID: id, Project: "p", StartTime: &t0}})
		return dir
	}
	var gone []string
	for i := range 30 {
		gone = append(gone, add(root, fmt.Sprintf("gone%02d", i), false))
	}
	kept := add(root, "kept", false)
	synced := add(root, "synced", true)
	outside := add(other, "outside", false)
	if err := os.MkdirAll(kept, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpsertRuns(ctx, obs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkReadyMany(ctx, []ledger.ReadyMark{{Dir: gone[0], Why: "finished"}}); err != nil {
		t.Fatal(err) // one pending run among the active ones
	}
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Logger: logger})
	d := &Daemon{DB: db, Engine: eng, Roots: []string{root}, Logger: logger, Now: time.Now}
	d.onRescan(ctx)()

	for _, c := range []struct {
		dir  string
		want ledger.State
	}{{gone[0], ledger.StateMissing}, {gone[29], ledger.StateMissing}, {kept, ledger.StateActive},
		{synced, ledger.StateSynced}, {outside, ledger.StateActive}} {
		r, err := db.GetRun(ctx, c.dir)
		if err != nil || r.State != c.want {
			t.Errorf("%s: %s (%v), want %s", filepath.Base(c.dir), r.State, err, c.want)
		}
	}
	if n := strings.Count(log.String(), "run dir vanished before upload"); n != len(gone) {
		t.Errorf("%d vanished warnings, want %d:\n%s", n, len(gone), log.String())
	}
	if d.lastScan.Load() == 0 {
		t.Error("the rescan's end was not recorded")
	}
}
