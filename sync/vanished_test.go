package sync

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
)

// missingCalls counts the engine's calls that mark runs missing.
type missingCalls struct {
	Store
	one, many int
}

func (m *missingCalls) MarkMissing(ctx context.Context, dir string) error {
	m.one++
	return m.Store.MarkMissing(ctx, dir)
}

func (m *missingCalls) MarkMissingMany(ctx context.Context, dirs []string) ([]string, error) {
	m.many++
	return m.Store.MarkMissingMany(ctx, dirs)
}

// A pass over active runs whose dirs vanished marks them all missing in one
// ledger call, with a warning for each; a run another process moved on
// meanwhile (here: skipped) keeps its state and gets no warning; runs whose
// dirs are still there stay active.
func TestCheckReadyMarksVanishedRunsInOnePass(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name           string
		runs, vanished int
		movedOn        int // of the vanished, skipped by another process after the pass listed them
	}{
		{name: "one vanished", runs: 3, vanished: 1},
		{name: "many vanished", runs: 40, vanished: 30},
		{name: "every one vanished, one moved on", runs: 5, vanished: 5, movedOn: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, db := newTestEngine(t, nil)
			calls := &missingCalls{Store: db}
			e.Store = calls
			var warnings bytes.Buffer
			e.Logger = slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))
			root := t.TempDir()
			start := time.Now()
			var dirs []string
			for i := range tt.runs {
				dirs = append(dirs, writeLog(t, filepath.Join(root, "wandb"), fmt.Sprintf("r%03d", i), start, false))
			}
			observeAll(t, e, root)
			listed, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
			if err != nil || len(listed) != tt.runs {
				t.Fatalf("%d active runs (%v), want %d", len(listed), err, tt.runs)
			}
			gone := dirs[:tt.vanished]
			for _, d := range gone {
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
			}
			movedOn := gone[:tt.movedOn]
			if len(movedOn) > 0 {
				if _, err := db.Skip(ctx, movedOn, "not wanted"); err != nil {
					t.Fatal(err)
				}
			}

			if _, err := e.CheckReady(ctx, listed); err != nil {
				t.Fatal(err)
			}
			if calls.one != 0 || calls.many != 1 {
				t.Errorf("%d MarkMissing and %d MarkMissingMany calls, want 0 and 1", calls.one, calls.many)
			}
			for i, d := range dirs {
				want, warned := ledger.StateActive, false
				switch {
				case i < tt.movedOn:
					want = ledger.StateSkipped
				case i < tt.vanished:
					want, warned = ledger.StateMissing, true
				}
				r, err := db.GetRun(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				if r.State != want {
					t.Errorf("%s is %s, want %s", filepath.Base(d), r.State, want)
				}
				if got := strings.Contains(warnings.String(), "dir="+d+"\n"); got != warned {
					t.Errorf("%s: warned %v, want %v:\n%s", filepath.Base(d), got, warned, warnings.String())
				}
			}
			if n := strings.Count(warnings.String(), "run dir vanished before upload"); n != tt.vanished-tt.movedOn {
				t.Errorf("%d vanish warnings, want %d", n, tt.vanished-tt.movedOn)
			}
		})
	}
}
