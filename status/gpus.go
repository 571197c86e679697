package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// errBadSnapshot: the stored GPU view does not decode.
var errBadSnapshot = errors.New("stored snapshot")

// StoredGPUs is the daemon's last GPU sample and when it was taken; ok is
// false when no daemon stored one. An undecodable one wraps errBadSnapshot.
func StoredGPUs(ctx context.Context, db *ledger.DB) (snap jobs.Snapshot, at time.Time, ok bool, err error) {
	raw, at, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok {
		return snap, at, false, err
	}
	if err := json.Unmarshal([]byte(raw), &snap); err != nil {
		return jobs.Snapshot{}, at, false, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	return snap, at, true, nil
}

// GPUView is the daemon's last GPU sample from db, with the job holding each
// GPU, and when it was taken; or, when spec names an inventory (or the
// daemon never sampled, or db is nil), a fresh look through that inventory
// ("auto" when spec is ""), with no time. A bad spec is jobs.ErrBadGPUSpec.
func GPUView(ctx context.Context, db *ledger.DB, spec string, logger *slog.Logger) (jobs.Snapshot, *time.Time, error) {
	if spec == "" && db != nil {
		snap, at, ok, err := StoredGPUs(ctx, db)
		if err != nil {
			return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
		}
		if ok {
			if err := SetHolders(ctx, db, &snap); err != nil {
				return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
			}
			return snap, &at, nil
		}
	}
	if spec == "" {
		spec = "auto"
	}
	inv, err := jobs.OpenInventory(spec, logger)
	if errors.Is(err, jobs.ErrBadGPUSpec) {
		return jobs.Snapshot{}, nil, err
	}
	if err != nil {
		return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
	}
	defer inv.Close()
	devs, err := inv.Devices(ctx)
	if err != nil {
		return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
	}
	snap := jobs.NewSnapshot(inv, devs, nil)
	if db != nil {
		if err := SetHolders(ctx, db, &snap); err != nil {
			return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
		}
	}
	return snap, nil, nil
}

// GPUIndexes maps GPU UUIDs to indexes from the daemon's stored view (the
// jobs table names GPUs by index); none when the daemon never stored one.
func GPUIndexes(ctx context.Context, db *ledger.DB) (map[string]int, error) {
	snap, _, ok, err := StoredGPUs(ctx, db)
	if errors.Is(err, errBadSnapshot) {
		return nil, nil // an unreadable view: UUIDs are shown instead
	}
	if err != nil || !ok {
		return nil, err
	}
	m := make(map[string]int, len(snap.GPUs))
	for _, g := range snap.GPUs {
		m[g.UUID] = g.Index
	}
	return m, nil
}
