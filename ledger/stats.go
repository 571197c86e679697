package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Histogram is a cumulative histogram as Prometheus exposes it: Buckets[i]
// counts the observations <= Bounds[i].
type Histogram struct {
	Bounds  []float64
	Buckets []uint64
	Count   uint64
	Sum     float64
}

// histogram aggregates the values (seconds) selected by sub, a subquery
// yielding one column named d, in SQL: nothing proportional to the table
// reaches Go.
func (db *DB) histogram(ctx context.Context, sub string, bounds []float64, args ...any) (Histogram, error) {
	h := Histogram{Bounds: bounds, Buckets: make([]uint64, len(bounds))}
	cols := []string{"count(*)", "coalesce(sum(d), 0)"}
	// The bounds' placeholders come before the subquery's in the statement.
	qargs := make([]any, 0, len(bounds)+len(args))
	for _, b := range bounds {
		cols = append(cols, "coalesce(sum(d <= ?), 0)")
		qargs = append(qargs, b)
	}
	qargs = append(qargs, args...)
	dest := []any{&h.Count, &h.Sum}
	for i := range h.Buckets {
		dest = append(dest, &h.Buckets[i])
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM (` + sub + `)`
	if err := db.queryRow(ctx, q, qargs...).Scan(dest...); err != nil {
		return Histogram{}, err
	}
	return h, nil
}

// UploadOutcomes counts finished upload attempts by outcome; every outcome is present.
func (db *DB) UploadOutcomes(ctx context.Context) (map[string]int, error) {
	out := map[string]int{OutcomeSuccess: 0, OutcomeAuth: 0, OutcomeTransient: 0, OutcomeOther: 0}
	rows, err := db.query(ctx, `SELECT outcome, count(*) FROM uploads GROUP BY outcome`)
	if err != nil {
		return nil, fmt.Errorf("ledger: upload outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			o string
			n int
		)
		if err := rows.Scan(&o, &n); err != nil {
			return nil, fmt.Errorf("ledger: upload outcomes: %w", err)
		}
		out[o] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: upload outcomes: %w", err)
	}
	return out, nil
}

// UploadDurations is the histogram of finished upload attempts' wall time in seconds.
func (db *DB) UploadDurations(ctx context.Context, bounds []float64) (Histogram, error) {
	h, err := db.histogram(ctx, `SELECT (ended_at - started_at) / 1000.0 AS d FROM uploads WHERE ended_at IS NOT NULL`, bounds)
	if err != nil {
		return Histogram{}, fmt.Errorf("ledger: upload durations: %w", err)
	}
	return h, nil
}

// QueueWaits is the histogram of how long started jobs waited in the queue
// (submission to their latest start), in seconds.
func (db *DB) QueueWaits(ctx context.Context, bounds []float64) (Histogram, error) {
	h, err := db.histogram(ctx, `SELECT (started_at - submitted_at) / 1000.0 AS d FROM jobs WHERE started_at IS NOT NULL`, bounds)
	if err != nil {
		return Histogram{}, fmt.Errorf("ledger: queue waits: %w", err)
	}
	return h, nil
}

// OldestQueued is when the longest-waiting queued job was submitted, or nil when none is queued.
func (db *DB) OldestQueued(ctx context.Context) (*time.Time, error) {
	var v sql.NullInt64
	if err := db.queryRow(ctx, `SELECT min(submitted_at) FROM jobs WHERE state = 'queued'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("ledger: oldest queued job: %w", err)
	}
	return fromNullMS(v), nil
}

// ReadErrors counts runs whose .wandb log could not be read to the end
// (a corrupt or foreign file); torn tails of killed runs are not errors.
func (db *DB) ReadErrors(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM runs WHERE read_error != ''`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: read errors: %w", err)
	}
	return n, nil
}

// GPUAllocation is one GPU held by one running job.
type GPUAllocation struct {
	JobID   int64
	JobName string
	GPUUUID string
}

// GPUAllocations lists the GPUs held by running jobs, by job id then GPU.
func (db *DB) GPUAllocations(ctx context.Context) ([]GPUAllocation, error) {
	rows, err := db.query(ctx, `SELECT j.id, j.name, g.value FROM jobs AS j, json_each(j.gpu_uuids) AS g
		WHERE j.state = 'running' ORDER BY j.id, g.value`)
	if err != nil {
		return nil, fmt.Errorf("ledger: GPU allocations: %w", err)
	}
	defer rows.Close()
	var out []GPUAllocation
	for rows.Next() {
		var a GPUAllocation
		if err := rows.Scan(&a.JobID, &a.JobName, &a.GPUUUID); err != nil {
			return nil, fmt.Errorf("ledger: GPU allocations: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: GPU allocations: %w", err)
	}
	return out, nil
}
