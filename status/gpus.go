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

// GPUView is the daemon's last GPU sample from db, with the job holding each
// GPU, and when it was taken; or, when spec names an inventory (or the
// daemon never sampled, or db is nil), a fresh look through that inventory
// ("auto" when spec is ""), with no time. A bad spec is jobs.ErrBadGPUSpec.
func GPUView(ctx context.Context, db *ledger.DB, spec string, logger *slog.Logger) (jobs.Snapshot, *time.Time, error) {
	if spec == "" && db != nil {
		raw, at, ok, err := db.GPUSnapshot(ctx)
		if err != nil {
			return jobs.Snapshot{}, nil, fmt.Errorf("gpus: %w", err)
		}
		if ok {
			var snap jobs.Snapshot
			if err := json.Unmarshal([]byte(raw), &snap); err != nil {
				return jobs.Snapshot{}, nil, fmt.Errorf("gpus: stored snapshot: %w", err)
			}
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
	raw, _, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok {
		return nil, err
	}
	var snap jobs.Snapshot
	if err := json.Unmarshal([]byte(raw), &snap); err != nil {
		return nil, nil // an unreadable view: UUIDs are shown instead
	}
	m := make(map[string]int, len(snap.GPUs))
	for _, g := range snap.GPUs {
		m[g.UUID] = g.Index
	}
	return m, nil
}
