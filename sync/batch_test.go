package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// batchSetup records n finished runs (ids b1..bn) and returns an engine
// that uploads them through the real uploader and the fake CLI, in batches.
func batchSetup(t *testing.T, n int, extraEnv ...string) (*Engine, *ledger.DB, string) {
	t.Helper()
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	calls := filepath.Join(t.TempDir(), "calls")
	env := fakeEnv(t, append([]string{"WANDB_API_KEY=" + testKey, "FAKE_WANDB_CALLS=" + calls,
		"FAKE_WANDB_STATE=" + filepath.Join(t.TempDir(), "state")}, extraEnv...)...)
	up := &Uploader{Wandb: wandb, Env: env, Timeout: 5 * time.Second, PerRun: time.Nanosecond, Grace: 200 * time.Millisecond, WorkDir: t.TempDir()}
	db := ledgertest.Open(t, "", ledger.Options{})
	// A failed run waits out an hour: each Drain is one deterministic pass.
	e := NewEngine(EngineOptions{Store: db, Uploader: up, MaxAttempts: 3, Batch: 32, BackoffBase: time.Hour,
		BackoffMax: time.Hour, TmpDir: t.TempDir()})
	root := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		writeLog(t, root, "b"+string(rune('0'+i)), t0.Add(time.Duration(i)*time.Minute), true)
	}
	observeAll(t, e, root)
	return e, db, calls
}

func callSizes(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func statesByID(t *testing.T, db *ledger.DB) map[string]ledger.Run {
	t.Helper()
	rs, err := db.ListRuns(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ledger.Run{}
	for _, r := range rs {
		out[r.RunID] = r
	}
	return out
}

// Several runs go up in one call; each is judged on its own. A run that the
// CLI names in an error fails alone; runs the call let down (an unlabelled
// ERROR, a crash, a hang) are retried alone, without an attempt counted; a
// run verified in a call is never uploaded again.
func TestBatchedCallJudgesEachRun(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		calls string // sizes of the calls, in order
		want  map[string]ledger.State
		tries map[string]int // attempts
	}{
		{"all good: one call", nil, "4",
			map[string]ledger.State{"b1": "synced", "b2": "synced", "b3": "synced", "b4": "synced"},
			map[string]int{"b1": 1, "b2": 1, "b3": 1, "b4": 1}},
		{"fatal error for one run", []string{"FAKE_WANDB_FAIL=b2=fatal"}, "4",
			map[string]ledger.State{"b1": "synced", "b2": "pending", "b3": "synced", "b4": "synced"},
			map[string]int{"b2": 1}},
		{"labelled error for one run", []string{"FAKE_WANDB_FAIL=b3=error"}, "4",
			map[string]ledger.State{"b1": "synced", "b2": "synced", "b3": "pending", "b4": "synced"},
			map[string]int{"b3": 1}},
		{"no Finished line for one run: retried alone, then its own failure", []string{"FAKE_WANDB_FAIL=b2=nofinish"}, "4 1",
			map[string]ledger.State{"b1": "synced", "b2": "pending", "b3": "synced", "b4": "synced"},
			map[string]int{"b2": 1}},
		{"unlabelled ERROR after the first run", []string{"FAKE_WANDB_MODE=unlabelled,ok"}, "4 1 1 1",
			map[string]ledger.State{"b1": "synced", "b2": "synced", "b3": "synced", "b4": "synced"},
			map[string]int{"b1": 1, "b2": 1, "b3": 1, "b4": 1}},
		{"crash after the first run", []string{"FAKE_WANDB_MODE=crashafter,ok"}, "4 1 1 1",
			map[string]ledger.State{"b1": "synced", "b2": "synced", "b3": "synced", "b4": "synced"},
			map[string]int{"b1": 1, "b2": 1, "b3": 1, "b4": 1}},
		{"hang after the first run", []string{"FAKE_WANDB_MODE=hangafter,ok"}, "4 1 1 1",
			map[string]ledger.State{"b1": "synced", "b2": "synced", "b3": "synced", "b4": "synced"},
			map[string]int{"b1": 1, "b2": 1, "b3": 1, "b4": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, db, calls := batchSetup(t, 4, tt.env...)
			if strings.Contains(tt.name, "hang") {
				e.Uploader.(*Uploader).Timeout = time.Second
			}
			if _, err := e.Drain(context.Background(), 1, nil); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(callSizes(t, calls), " "); got != tt.calls {
				t.Errorf("call sizes %q, want %q", got, tt.calls)
			}
			runs := statesByID(t, db)
			for id, want := range tt.want {
				if runs[id].State != want {
					t.Errorf("%s is %s (%s), want %s", id, runs[id].State, runs[id].LastError, want)
				}
				if want == ledger.StateSynced {
					if _, err := os.Stat(runs[id].LogPath + ".synced"); err != nil {
						t.Errorf("%s synced without its marker: %v", id, err)
					}
				}
			}
			for id, n := range tt.tries {
				if runs[id].Attempts != n {
					t.Errorf("%s after %d attempts, want %d", id, runs[id].Attempts, n)
				}
			}
		})
	}
}
