package sync

import (
	"context"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// shutdownStore stops the process (cancels ctx) in the middle of preparing
// an upload, after the claim and before wandb sync starts.
type shutdownStore struct {
	Store
	stop context.CancelFunc
}

func (s *shutdownStore) SyncedSiblings(ctx context.Context, g string) ([]ledger.Run, error) {
	s.stop()
	return nil, ctx.Err()
}

// SIGTERM between the claim and the call: the claimed run goes back to
// pending at once, untouched, instead of sitting in uploading until its
// lease runs out (the daemon's stop must leave nothing uploading).
func TestShutdownBeforeTheCallReleasesTheClaim(t *testing.T) {
	f := &fakeSyncer{results: []UploadResult{{Outcome: ledger.OutcomeSuccess}}}
	e, db := newTestEngine(t, f)
	root := t.TempDir()
	dir := writeLog(t, root, "sigterm1", time.Now(), true)
	observeAll(t, e, root)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	e.Store = &shutdownStore{Store: db, stop: stop}
	if _, ok, err := e.UploadNext(ctx, nil); !ok || err == nil {
		t.Fatalf("UploadNext: claimed %v, err %v; want a claim ended by the shutdown", ok, err)
	}
	r, err := db.GetRun(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != ledger.StatePending || r.Attempts != 0 || r.LeaseOwner != "" {
		t.Errorf("after shutdown: state %s, %d attempts, lease %q; want pending, 0, none", r.State, r.Attempts, r.LeaseOwner)
	}
	if len(f.calls) != 0 {
		t.Errorf("wandb sync called %d times after the shutdown", len(f.calls))
	}
}
