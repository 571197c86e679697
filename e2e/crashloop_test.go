package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// The crash loop, bounded for CI: 150 runs, uploads that take time, 25
// SIGKILLs of the daemon at random moments, each followed by a restart.
// Then every run is synced, none was uploaded twice, the ledger passes its
// integrity check, and the last restart uploads within seconds.
func TestCrashLoopLosesNothingUploadsNothingTwice(t *testing.T) {
	// Calls of 8 runs taking about 0.6 s: most kills land inside one.
	h := newHarness(t, "FAKE_WANDB_DELAY=400ms", "FAKE_WANDB_RUN_DELAY=100ms", "RUNNER_BATCH=8", "RUNNER_LEASE=1m")
	const n, kills = 150, 25
	want := map[string]ledger.State{}
	for i := range n {
		id := fmt.Sprintf("cl%06d", i)
		dir := finishedRun(t, filepath.Join(h.root, fmt.Sprintf("p%02d", i/10), "wandb"), id, time.Now().Add(-2*time.Hour))
		age(t, dir, time.Hour)
		want[id] = ledger.StateSynced
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		h.startDaemon()
		time.Sleep(time.Duration(50+r.IntN(750)) * time.Millisecond)
		h.killDaemon()
		if k == kills/2 {
			t.Logf("after %d kills: %d runs synced", k+1, countSynced(h))
		}
	}
	before := countSynced(h)
	restarted := time.Now()
	h.startDaemon()
	if before < n {
		h.eventually(10*time.Second, "an upload after the last restart", func() bool { return countSynced(h) > before })
		t.Logf("first upload %v after the last restart (%d of %d synced before it)", time.Since(restarted).Round(10*time.Millisecond), before, n)
	}
	h.waitStates(90*time.Second, want)
	for id, c := range h.uploadCounts() {
		if c != 1 {
			t.Errorf("run %s uploaded %d times, want once", id, c)
		}
	}
	h.stopDaemon()
	db, err := ledger.Open(context.Background(), h.db, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QuickCheck(context.Background()); err != nil {
		t.Errorf("ledger after %d kills: %v", kills, err)
	}
}

func countSynced(h *harness) int {
	n := 0
	for _, r := range h.runs() {
		if r.State == ledger.StateSynced {
			n++
		}
	}
	return n
}
